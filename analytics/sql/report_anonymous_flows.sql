-- The one-file report, anonymous visitors: per day, the cross-division flows of the day's
-- anonymous visitors (cross_division_flows, docs/analysts/communities.md; a visitor's division is the
-- day's, as the range macro finds for a key that lives one day).
with community_visitors as (
    select day, community_slug, visitor_key, sum(page_views) as page_views
    from {visitor_hourly}
    where day between $start and $end and community_slug is not null and not signed_in
    group by all
)

select
    cv.day,
    v.division_id as from_division,
    c.division_id as to_division,
    count(distinct cv.visitor_key) as visitors,
    cast(sum(cv.page_views) as bigint) as page_views
from community_visitors as cv
join visitor_daily_divisions as v on v.day = cv.day and v.visitor_key = cv.visitor_key
join {dim_communities} as c on c.community_slug = cv.community_slug
where v.division_id is not null and not division_within(v.division_id, c.division_id)
group by all
order by cv.day, from_division, to_division
