-- Grain: one row per UTC day and HTTP status. Parameters: $days (date[]), $start, $end.
with events as (
    select * from events
    where event_date = any($days) and ts >= $start and ts < $end
),

final as (
    select
        event_date as day,
        status,
        count(*) as hits
    from events
    group by all
)

select * from final
