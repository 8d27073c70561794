-- Grain: one row per day (FOOTFALL_TIMEZONE). Visit metrics come from visits_daily, which
-- the rebuild fills first for the same days. Parameters: $days, $tz, $include_crawlers.
with events as (
    select
        day,
        visitor_id,
        bytes_sent,
        is_page_view and ($include_crawlers or not coalesce(is_crawler, false)) as counted
    from events_local($days, $tz)
),

traffic as (
    select
        day,
        count(*) as hits,
        count(*) filter (where counted) as page_views,
        count(distinct visitor_id) filter (where counted) as visitors,
        coalesce(sum(bytes_sent), 0) as bytes
    from events
    group by all
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
