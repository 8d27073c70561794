-- Grain: one row per day (FOOTFALL_TIMEZONE) and country (ISO 3166-1 alpha-2, or Unknown),
-- over counted page views. Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, country_code, visitor_id from page_views_local($days, $tz, $include_crawlers)
),

final as (
    select
        day,
        coalesce(country_code, 'Unknown') as country_code,
        count(*) as page_views,
        count(distinct visitor_id) as visitors
    from page_views
    group by all
)

select * from final
