-- Grain: one row per wall-clock hour (FOOTFALL_TIMEZONE) with at least one hit: the hour-level
-- counterpart of daily_traffic. Hits count every hit; page views and visitors the page views
-- that count; a visit belongs to the hour of its first page view, and visit_duration_s is the
-- total of those visits' durations (seconds), so hours add up to days exactly.
-- Parameters: $days, $tz, $include_crawlers, $session_gap_s.
with hits as (
    select day, date_trunc('hour', local_ts) as hour, count(*) as hits
    from events_local($days, $tz)
    group by all
),

page_views as (
    select date_trunc('hour', local_ts) as hour, count(*) as page_views, count(distinct visitor_id) as visitors
    from page_views_local($days, $tz, $include_crawlers)
    group by all
),

visits as (
    select
        first_hour as hour,
        count(*) as visits,
        count(*) filter (where page_views = 1) as bounces,
        sum(duration_s) as visit_duration_s
    from visits_local($days, $tz, $include_crawlers, $session_gap_s)
    group by all
),

final as (
    select
        hits.day,
        hits.hour,
        hits.hits,
        coalesce(page_views.page_views, 0) as page_views,
        coalesce(page_views.visitors, 0) as visitors,
        coalesce(visits.visits, 0) as visits,
        coalesce(visits.bounces, 0) as bounces,
        coalesce(visits.visit_duration_s, 0) as visit_duration_s
    from hits
    left join page_views using (hour)
    left join visits using (hour)
)

select * from final
