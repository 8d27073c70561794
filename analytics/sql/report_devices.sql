-- The one-file report: the rows of devices_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's devices query sums them).
select day, device_type, browser_family, os_family, page_views, visitors
from {devices_daily}
where day between $start and $end
order by day
