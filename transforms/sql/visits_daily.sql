-- Grain: one row per day (FOOTFALL_TIMEZONE). A visit is one visitor's page views with gaps
-- shorter than $session_gap_s seconds; visitor ids change daily, so visits end at midnight.
-- Parameters: $days, $tz, $include_crawlers, $session_gap_s.
with page_views as (
    select day, visitor_id, ts from page_views_local($days, $tz, $include_crawlers)
),

gaps as (
    select
        *,
        epoch(ts) - epoch(lag(ts) over (partition by day, visitor_id order by ts)) as gap_s
    from page_views
),

-- Page views of one visitor in the same second tie on ts: ordering them by gap_s too (the
-- one lag() compared with the previous second first) makes this window see them in the
-- order the gaps were computed in, so a tie cannot start a visit at the wrong row.
numbered as (
    select
        *,
        count(*) filter (where gap_s is null or gap_s >= $session_gap_s)
            over (partition by day, visitor_id order by ts, gap_s desc nulls first rows unbounded preceding)
            as visit_number
    from gaps
),

visits as (
    select
        day,
        visitor_id,
        visit_number,
        count(*) as page_views,
        epoch(max(ts)) - epoch(min(ts)) as duration_s
    from numbered
    group by all
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
