-- Grain: one row per day and community, plus '(all)': distinct visitors with a page view in
-- the last 5 minutes of the day's page views, (last - 300 s, last]. The current_visitors
-- view shows the newest day. Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, visitor_key, community_slug, ts
    from visitor_hits($days, $tz, $include_crawlers)
    where is_page_view
),

last_page_view as (
    select day, max(ts) as window_end from page_views group by all
),

recent as (
    select p.day, p.visitor_key, p.community_slug, l.window_end
    from page_views as p
    join last_page_view as l on l.day = p.day
    where p.ts > l.window_end - interval 300 second
)

select day, '(all)' as community_slug, any_value(window_end) as window_end, count(distinct visitor_key) as visitors
from recent
group by all
union all
select day, community_slug, any_value(window_end) as window_end, count(distinct visitor_key) as visitors
from recent
where community_slug is not null
group by all
