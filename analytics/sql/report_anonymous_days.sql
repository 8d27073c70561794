-- The one-file report, anonymous visitors (one visitor key per day): per day, visitor division
-- and community, the distinct visitors and their page views there; community '(all)' counts
-- each visitor once over all pages of the day.
with pages as (
    select h.day, h.visitor_key, h.community_slug, sum(h.page_views) as page_views
    from {visitor_hourly} as h
    where h.day between $start and $end and not h.signed_in
    group by all
),

located as (
    select p.*, v.division_id
    from pages as p
    join visitor_daily_divisions as v on v.day = p.day and v.visitor_key = p.visitor_key
)

select
    day,
    division_id as division,
    coalesce(community_slug, '(all)') as community,
    count(distinct visitor_key) as visitors,
    cast(sum(page_views) as bigint) as page_views
from located
group by grouping sets ((day, division_id), (day, division_id, community_slug))
having grouping(community_slug) = 1 or community_slug is not null
order by day, division nulls first, community
