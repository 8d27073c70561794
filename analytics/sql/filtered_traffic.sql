-- GET traffic/ under the filters: one row per $grain ('day' or 'hour') of [$start, $end] (zeros
-- where none) and, with a null label, the range's totals; the visits are sessionised once for
-- both. Hits: every matching hit (crawlers included, as traffic/ counts hits). Page views: the
-- matching counted page views; visitors: each day's unique visitors among them (a period is
-- inside one day, so the totals' visitors are visitor-days). Visits: those holding a matching
-- page view (matching_visits.sql), in the period of their first page view.
with hits as (
    select
        date_trunc($grain, local_ts) as period_start,
        count(*) as hits,
        -- page_views_local's rule, on the same scan of the events
        count(*) filter (where counted) as page_views,
        count(distinct (day, visitor_id)) filter (where counted) as visitors
    from (
        select *, is_page_view and ($include_crawlers or not coalesce(is_crawler, false)) as counted
        from events_local($days, $tz)
        where {event_filter}
    )
    group by grouping sets ((period_start), ())
),

visits as (
    select
        case when $grain = 'hour' then first_hour else cast(day as timestamp) end as period_start,
        count(*) as visits,
        count(*) filter (where page_views = 1) as bounces,
        cast(sum(duration_s) as bigint) as visit_duration_s
    from {matching_visits} as v
    group by grouping sets ((period_start), ())
),

periods as (
    select cast(day as timestamp) as period_start from calendar_days($start, $end) where $grain = 'day'
    union all
    select hour from calendar_hours($start, $end) where $grain = 'hour'
    union all
    select null
)

select
    strftime(p.period_start, case when $grain = 'hour' then '%Y-%m-%dT%H:00' else '%Y-%m-%d' end) as label,
    coalesce(h.hits, 0) as hits,
    coalesce(h.page_views, 0) as page_views,
    coalesce(h.visitors, 0) as visitors,
    coalesce(v.visits, 0) as visits,
    coalesce(v.bounces, 0) as bounces,
    coalesce(v.visit_duration_s, 0) as visit_duration_s
from periods as p
left join hits as h on h.period_start is not distinct from p.period_start
left join visits as v on v.period_start is not distinct from p.period_start
order by p.period_start nulls last
