-- Grain: one row per UTC day. Parameters: $days (date[]), $start, $end (timestamptz).
with events as (
    select * from events
    where event_date = any($days) and ts >= $start and ts < $end
),

final as (
    select
        cast(ts as date) as day,
        count(*) as hits,
        count(*) filter (where is_page_view(method, status, path)) as page_views,
        count(distinct visitor_id) filter (where is_page_view(method, status, path)) as visitors,
        coalesce(sum(bytes_sent), 0) as bytes
    from events
    group by all
)

select * from final
