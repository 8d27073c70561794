-- Grain: one row per day (FOOTFALL_TIMEZONE), device type, browser family and OS family,
-- over counted page views. Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, device_type, browser_family, os_family, visitor_id
    from page_views_local($days, $tz, $include_crawlers)
),

final as (
    select
        day,
        coalesce(device_type, 'other') as device_type,
        coalesce(browser_family, 'Other') as browser_family,
        coalesce(os_family, 'Other') as os_family,
        count(*) as page_views,
        count(distinct visitor_id) as visitors
    from page_views
    group by all
)

select * from final
