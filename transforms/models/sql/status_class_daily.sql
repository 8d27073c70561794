-- Grain: one row per day (FOOTFALL_TIMEZONE) and HTTP status class ('1xx' .. '5xx'); every hit,
-- crawlers included, like status_daily. Parameters: $days, $tz.
with events as (
    select day, status from events_local($days, $tz)
),

final as (
    select day, (status // 100) || 'xx' as status_class, count(*) as hits
    from events
    group by all
)

select * from final
