-- GET pages/: the $limit paths of [$start, $end] with the most page views. visitors sums each
-- day's unique visitors of the path (docs/analysts/metrics.md, page_daily).
select path, sum(page_views) as page_views, sum(visitors) as visitors
from {page_daily}
where day between $start and $end
group by path
order by page_views desc, path
limit $limit
