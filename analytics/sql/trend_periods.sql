-- A subquery, not a query: pasted where a query writes trend_periods in braces, in trends and filtered_trends. Every
-- $grain period (hour, day, week from Monday, month) that overlaps [$start, $end].
select unnest(generate_series(
    date_trunc($grain, cast($start as timestamp)),
    date_trunc($grain, cast($end as timestamp) + interval 23 hour),
    case $grain
        when 'hour' then interval 1 hour
        when 'day' then interval 1 day
        when 'week' then interval 7 day
        else interval 1 month
    end
)) as period_start
