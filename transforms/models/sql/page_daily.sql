-- Grain: one row per day (FOOTFALL_TIMEZONE) and path with at least one counted page view.
-- Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, path, visitor_id from page_views_local($days, $tz, $include_crawlers)
),

final as (
    select day, path, count(*) as page_views, count(distinct visitor_id) as visitors
    from page_views
    group by all
)

select * from final
