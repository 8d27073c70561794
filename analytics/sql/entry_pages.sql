-- GET entry-pages/: the $limit pages of [$start, $end] where the most visits began, with the
-- visits of one page view among them (entry_pages_daily, docs/analysts/metrics.md).
select
    path,
    sum(entries) as entries,
    sum(bounces) as bounces,
    round(100.0 * sum(bounces) / sum(entries), 2) as bounce_rate
from {entry_pages_daily}
where day between $start and $end
group by path
order by entries desc, path
limit $limit
