-- GET pages/ under the filters: the $limit paths with the most counted page views matching every
-- filter (under a page filter, that page's own row); visitors sums each day's unique visitors.
select path, count(*) as page_views, count(distinct (day, visitor_id)) as visitors
from page_views_local($days, $tz, $include_crawlers)
where {event_filter}
group by path
order by page_views desc, path
limit $limit
