-- The one-file report: the rows of bots_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's crawlers query sums them).
select day, crawler_name, hits, bytes
from {bots_daily}
where day between $start and $end
order by day
