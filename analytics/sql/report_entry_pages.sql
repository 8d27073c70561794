-- The one-file report: the rows of entry_pages_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's entry_pages query sums them).
select day, path, entries, bounces
from {entry_pages_daily}
where day between $start and $end
order by day
