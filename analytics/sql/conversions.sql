-- GET conversions/: conversions per day of [$start, $end] (every day, zeros where none).
-- docs/analysts/communities.md, conversions_daily; seconds_to_conversion is the day's exact total.
select
    strftime(days.day, '%Y-%m-%d') as date,
    coalesce(c.sessions_with_anonymous_hits, 0) as sessions_with_anonymous_hits,
    coalesce(c.conversions, 0) as conversions,
    c.conversion_rate_pct,
    coalesce(c.seconds_to_conversion, 0) as seconds_to_conversion
from calendar_days($start, $end) as days
left join {conversions_daily} as c using (day)
order by days.day
