-- Grain: one row per day (FOOTFALL_TIMEZONE) with visits. A visit is one visitor's page views
-- with gaps shorter than FOOTFALL_SESSION_GAP_S seconds (the macro visits_local); visitor ids change
-- daily, so visits end at midnight. Summed from traffic_hourly, which the rebuild fills first for
-- the same days with exact totals: every visit is in the hour of its first page view, and every
-- counted page view in one visit. Parameters: $days.
with hours as (
    select day, page_views, visits, bounces, visit_duration_s
    from traffic_hourly
    where day = any($days)
),

final as (
    select
        day,
        sum(visits) as visits,
        sum(bounces) as bounces,
        round(100.0 * sum(bounces) / sum(visits), 2) as bounce_rate,
        round(sum(visit_duration_s) / sum(visits), 1) as avg_visit_duration_s,
        round(sum(page_views) / sum(visits), 2) as pages_per_visit
    from hours
    group by day
    having sum(visits) > 0
)

select * from final
