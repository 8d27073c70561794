-- Grain: one row per UTC day and path with at least one page view.
-- Parameters: $days (date[]), $start, $end (timestamptz).
with page_views as (
    select * from events
    where event_date = any($days) and ts >= $start and ts < $end
        and is_page_view(method, status, path)
),

final as (
    select
        event_date as day,
        path,
        count(*) as page_views,
        count(distinct visitor_id) as visitors
    from page_views
    group by all
)

select * from final
