-- GET countries/ under the filters: matching counted page views per GeoIP country ('Unknown'
-- when not located), the $limit largest; visitors sums each day's unique visitors.
select coalesce(country_code, 'Unknown') as country_code, count(*) as page_views, count(distinct (day, visitor_id)) as visitors
from page_views_local($days, $tz, $include_crawlers)
where {event_filter}
group by all
order by page_views desc, country_code
limit $limit
