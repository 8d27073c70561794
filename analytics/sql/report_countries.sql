-- The one-file report: the rows of countries_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's countries query sums them).
select day, country_code, page_views, visitors
from {countries_daily}
where day between $start and $end
order by day
