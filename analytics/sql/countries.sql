-- GET countries/: page views of [$start, $end] per GeoIP country of the page view, the $limit
-- largest (countries_daily). visitors sums each day's unique visitors.
select country_code, sum(page_views) as page_views, sum(visitors) as visitors
from {countries_daily}
where day between $start and $end
group by all
order by page_views desc, country_code
limit $limit
