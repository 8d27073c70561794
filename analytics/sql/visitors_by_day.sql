-- GET export/: visitor_stats of each day of [$start, $end] (every day, zeros where none),
-- optionally only of one community's pages. A visitor of a day is one visitor_key.
-- The whole site needs one row per visitor and day (visitor_daily); a community, the hourly
-- rows of its pages (visitor_hourly).
with visitor_days as (
    select day, visitor_key, user_hash is not null as signed_in, page_views
    from {visitor_daily}
    where $community is null and day between $start and $end
    union all
    select day, visitor_key, signed_in, page_views
    from {visitor_hourly}
    where $community is not null and community_slug = $community and day between $start and $end
),

counts as (
    select
        day,
        count(distinct visitor_key) as visitors,
        count(distinct visitor_key) filter (where signed_in) as signed_in_visitors,
        count(distinct visitor_key) filter (where not signed_in) as anonymous_visitors,
        sum(page_views) as page_views
    from visitor_days
    group by day
)

select
    strftime(days.day, '%Y-%m-%d') as date,
    coalesce(counts.visitors, 0) as total_visitors,
    coalesce(counts.signed_in_visitors, 0) as authenticated_visitors,
    coalesce(counts.anonymous_visitors, 0) as anonymous_visitors,
    cast(coalesce(counts.page_views, 0) as bigint) as page_views
from calendar_days($start, $end) as days
left join counts using (day)
order by days.day
