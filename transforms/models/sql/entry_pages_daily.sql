-- Grain: one row per day (FOOTFALL_TIMEZONE) and entry page: the path of the first page view
-- of each visit (docs/analysts/metrics.md, Visits), how many visits began there and how many of those
-- were bounces. Parameters: $days, $tz, $include_crawlers, $session_gap_s.
with visits as (
    select day, entry_path, page_views from visits_local($days, $tz, $include_crawlers, $session_gap_s)
),

final as (
    select
        day,
        entry_path as path,
        count(*) as entries,
        count(*) filter (where page_views = 1) as bounces
    from visits
    group by all
)

select * from final
