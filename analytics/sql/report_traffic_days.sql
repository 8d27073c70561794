-- The one-file report: per day of [$start, $end], the traffic/ endpoint's inputs: exact sums of
-- traffic_hourly (its totals) and the daily_traffic row (its series).
with hourly as (
    select
        day,
        sum(hits) as hits,
        sum(page_views) as page_views,
        sum(visits) as visits,
        sum(bounces) as bounces,
        sum(visit_duration_s) as visit_duration_s
    from {traffic_hourly}
    where day between $start and $end
    group by day
)

select
    coalesce(h.day, t.day) as day,
    coalesce(h.hits, 0) as hits,
    coalesce(h.page_views, 0) as page_views,
    coalesce(h.visits, 0) as visits,
    coalesce(h.bounces, 0) as bounces,
    coalesce(h.visit_duration_s, 0) as visit_duration_s,
    coalesce(t.hits, 0) as day_hits,
    coalesce(t.page_views, 0) as day_page_views,
    coalesce(t.visitors, 0) as day_visitors,
    coalesce(t.visits, 0) as day_visits,
    t.bounce_rate as day_bounce_rate,
    t.avg_visit_duration_s as day_avg_visit_duration_s
from hourly as h
full join (select * from {daily_traffic} where day between $start and $end) as t on t.day = h.day
order by day
