-- Grain: one row per day (FOOTFALL_TIMEZONE), referrer domain and class, and UTM tags, over
-- counted page views. Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, referrer_domain, referrer_class, utm_source, utm_medium, utm_campaign, visitor_id
    from page_views_local($days, $tz, $include_crawlers)
),

final as (
    select
        day,
        coalesce(referrer_class, 'direct') as referrer_class,
        coalesce(referrer_domain, '') as referrer_domain,
        coalesce(utm_source, '') as utm_source,
        coalesce(utm_medium, '') as utm_medium,
        coalesce(utm_campaign, '') as utm_campaign,
        count(*) as page_views,
        count(distinct visitor_id) as visitors
    from page_views
    group by all
)

select * from final
