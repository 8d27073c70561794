-- GET traffic/, totals of [$start, $end]: exact sums of the hourly rows. visitor_days sums each
-- day's unique visitors (a visitor id changes daily, docs/analysts/metrics.md).
select
    coalesce(sum(hits), 0) as hits,
    coalesce(sum(page_views), 0) as page_views,
    coalesce((select sum(visitors) from {daily_traffic} where day between $start and $end), 0) as visitor_days,
    coalesce(sum(visits), 0) as visits,
    coalesce(sum(bounces), 0) as bounces,
    coalesce(sum(visit_duration_s), 0) as visit_duration_s
from {traffic_hourly}
where day between $start and $end
