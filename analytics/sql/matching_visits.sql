-- A subquery, not a query: pasted where a query writes matching_visits in braces, in the filtered_* queries. The visits
-- of $days (visits_local: docs/analysts/metrics.md, Visits, over every counted page view of the visitor)
-- that hold at least one page view matching the filters (event_filter.sql). A visit's page views
-- lie between its first and last page view, and the next visit of the visitor starts at least
-- $session_gap_s seconds later: the millisecond of slack only absorbs the rounding of epoch().
select v.*
from visits_local($days, $tz, $include_crawlers, $session_gap_s) as v
where exists (
    select 1
    from page_views_local($days, $tz, $include_crawlers) as m
    where m.day = v.day
        and m.visitor_id = v.visitor_id
        and epoch(m.ts) between epoch(v.first_ts) and epoch(v.first_ts) + v.duration_s + 0.001
        and {event_filter}
)
