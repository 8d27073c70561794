-- Grain: one row per day (FOOTFALL_TIMEZONE). A visit is one visitor's page views with gaps
-- shorter than $session_gap_s seconds (the macro visits_local); visitor ids change daily, so
-- visits end at midnight. Parameters: $days, $tz, $include_crawlers, $session_gap_s.
with visits as (
    select day, page_views, duration_s from visits_local($days, $tz, $include_crawlers, $session_gap_s)
),

final as (
    select
        day,
        count(*) as visits,
        count(*) filter (where page_views = 1) as bounces,
        round(100.0 * count(*) filter (where page_views = 1) / count(*), 2) as bounce_rate,
        round(avg(duration_s), 1) as avg_visit_duration_s,
        round(sum(page_views) / count(*), 2) as pages_per_visit
    from visits
    group by all
)

select * from final
