-- Grain: one row per day (FOOTFALL_TIMEZONE). Visit metrics come from visits_daily, which
-- the rebuild fills first for the same days. Parameters: $days, $tz, $include_crawlers.
-- Hits and bytes count every hit; page views and visitors only the page views that count
-- (page_views_local), read on their own so the page-view rule is not evaluated for every hit.
with hits as (
    select
        day,
        count(*) as hits,
        coalesce(sum(bytes_sent), 0) as bytes
    from events_local($days, $tz)
    group by all
),

page_views as (
    select
        day,
        count(*) as page_views,
        count(distinct visitor_id) as visitors
    from page_views_local($days, $tz, $include_crawlers)
    group by all
),

traffic as (
    select
        hits.day,
        hits.hits,
        coalesce(page_views.page_views, 0) as page_views,
        coalesce(page_views.visitors, 0) as visitors,
        hits.bytes
    from hits
    left join page_views using (day)
),

final as (
    select
        traffic.*,
        coalesce(visits.visits, 0) as visits,
        visits.bounce_rate,
        visits.avg_visit_duration_s,
        visits.pages_per_visit
    from traffic
    left join visits_daily as visits using (day)
)

select * from final
