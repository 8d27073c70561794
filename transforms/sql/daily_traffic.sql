-- Grain: one row per UTC day. Parameters: $days (date[]), $start, $end (timestamptz).
with events as (
    -- event_date is the UTC day of ts (the partition key): no timestamptz->date cast per row,
    -- and the page-view rule is evaluated once per row.
    select event_date, visitor_id, bytes_sent, is_page_view(method, status, path) as pv
    from events
    where event_date = any($days) and ts >= $start and ts < $end
),

final as (
    select
        event_date as day,
        count(*) as hits,
        count(*) filter (where pv) as page_views,
        count(distinct visitor_id) filter (where pv) as visitors,
        coalesce(sum(bytes_sent), 0) as bytes
    from events
    group by all
)

select * from final
