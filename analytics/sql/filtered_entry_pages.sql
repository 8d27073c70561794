-- GET entry-pages/ under the filters: where the visits holding a matching page view began
-- (matching_visits.sql), with the visits of one page view among them.
select
    entry_path as path,
    count(*) as entries,
    count(*) filter (where page_views = 1) as bounces,
    round(100.0 * count(*) filter (where page_views = 1) / count(*), 2) as bounce_rate
from {matching_visits} as v
group by entry_path
order by entries desc, path
limit $limit
