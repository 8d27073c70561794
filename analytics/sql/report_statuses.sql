-- The one-file report: the rows of status_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's statuses query sums them).
select day, status, hits
from {status_daily}
where day between $start and $end
order by day
