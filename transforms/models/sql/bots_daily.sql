-- Grain: one row per day (FOOTFALL_TIMEZONE) and crawler name: every hit by a crawler or
-- other non-human client. Parameters: $days, $tz.
with events as (
    select day, crawler_name, bytes_sent from events_local($days, $tz) where is_crawler
),

final as (
    select
        day,
        coalesce(crawler_name, 'unnamed') as crawler_name,
        count(*) as hits,
        coalesce(sum(bytes_sent), 0) as bytes
    from events
    group by all
)

select * from final
