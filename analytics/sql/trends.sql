-- GET trends/: distinct visitors per $grain (hour, day, week from Monday, month) of
-- [$start, $end], every period (zeros where none), optionally only of one community's pages.
-- A period that overlaps the range partly counts its days inside the range (the trends macro).
-- Whole days of the whole site need one row per visitor and day (visitor_daily), a third of
-- the rows of visitor_hourly, which hours and communities need.
with visitor_periods as (
    select cast(date_trunc($grain, day) as timestamp) as period_start, visitor_key, user_hash is not null as signed_in
    from {visitor_daily}
    where $community is null and $grain <> 'hour' and day between $start and $end
    union all
    select date_trunc($grain, hour), visitor_key, signed_in
    from {visitor_hourly}
    where ($community is not null or $grain = 'hour') and day between $start and $end
        and ($community is null or community_slug = $community)
),

counts as (
    select
        period_start,
        count(distinct visitor_key) as visitors,
        count(distinct visitor_key) filter (where signed_in) as signed_in_visitors,
        count(distinct visitor_key) filter (where not signed_in) as anonymous_visitors
    from visitor_periods
    group by all
)

select
    strftime(p.period_start, case when $grain = 'hour' then '%Y-%m-%dT%H:00' else '%Y-%m-%d' end) as label,
    coalesce(c.visitors, 0) as visitors,
    coalesce(c.signed_in_visitors, 0) as signed_in_visitors,
    coalesce(c.anonymous_visitors, 0) as anonymous_visitors
from {trend_periods} as p
left join counts as c using (period_start)
order by p.period_start
