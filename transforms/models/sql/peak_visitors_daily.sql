-- Grain: one row per day and community, plus '(all)' for the whole site: the most distinct
-- visitors with a page view inside one 5-minute window [t, t + 300 s) of the day.
--
-- A visitor with a page view at s is inside the windows starting in (s - 300 s, s]. Page
-- views of a visitor closer than 300 s apart give overlapping ranges, merged into one
-- [first - 300 s + 1 us, last]. The number of visitors inside the window starting at T is
-- #{starts <= T} - #{ends < T}: a running sum over +1 at each start and -1 one microsecond
-- after each end, read at every page-view time (the peak is reached at one: a window can
-- slide right to its first page view without losing any). Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, visitor_key, community_slug, epoch_us(ts) as s
    from visitor_hits($days, $tz, $include_crawlers)
    where is_page_view
),

scoped as (
    select day, '(all)' as community_slug, visitor_key, s from page_views
    union all
    select day, community_slug, visitor_key, s from page_views where community_slug is not null
),

gaps as (
    select *, s - lag(s) over (partition by day, community_slug, visitor_key order by s) as gap_us
    from scoped
),

-- Ties on s are ordered by gap_us too, as in visits_daily: the row lag() compared with the
-- previous time first, so each tie lands in the island its gap was computed for.
islands as (
    select
        *,
        count(*) filter (where gap_us is null or gap_us > 300000000)
            over (partition by day, community_slug, visitor_key order by s, gap_us desc nulls first rows unbounded preceding)
            as island
    from gaps
),

ranges as (
    select day, community_slug, min(s) - 300000000 + 1 as start_us, max(s) as end_us
    from islands
    group by day, community_slug, visitor_key, island
),

steps as (
    select day, community_slug, start_us as t, 1 as delta, false as is_page_view from ranges
    union all
    select day, community_slug, end_us + 1 as t, -1 as delta, false as is_page_view from ranges
    union all
    select distinct day, community_slug, s as t, 0 as delta, true as is_page_view from scoped
),

inside as (
    select
        day,
        community_slug,
        t,
        is_page_view,
        sum(delta) over (partition by day, community_slug order by t range between unbounded preceding and current row)
            as visitors
    from steps
)

select
    day,
    community_slug,
    max(visitors) as peak_visitors,
    make_timestamptz(arg_min(t, [-visitors, t])) as window_start
from inside
where is_page_view
group by all
