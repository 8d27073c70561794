-- Grain: one row per day (FOOTFALL_TIMEZONE) and HTTP status; every hit. Parameters: $days, $tz.
with events as (
    select day, status from events_local($days, $tz)
),

final as (
    select day, status, count(*) as hits
    from events
    group by all
)

select * from final
