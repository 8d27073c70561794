-- The one-file report: the rows of error_paths_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's not_found query sums them).
select day, path, hits
from {error_paths_daily}
where day between $start and $end and status = 404
order by day
