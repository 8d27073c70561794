-- The one-file report: the rows of page_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's pages query sums them).
select day, path, page_views, visitors
from {page_daily}
where day between $start and $end
order by day
