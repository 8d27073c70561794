-- GET community-breakdown/: distinct visitors of [$start, $end] of each community's pages, with
-- the community's division and its visitors per visitor division (community_division_breakdown,
-- docs/analysts/communities.md: each visitor's division over the range), the $limit largest divisions each.
with totals as (
    select
        community_slug,
        count(distinct visitor_key) as visitors,
        count(distinct visitor_key) filter (where signed_in) as signed_in_visitors,
        cast(sum(page_views) as bigint) as page_views
    from {visitor_hourly}
    where day between $start and $end and community_slug is not null
    group by all
),

breakdown as (
    select
        community_slug,
        list(
            struct_pack(division_id := division_id, division_name := division_name, visitors := visitors, percentage := pct)
            order by rank
        ) as divisions
    from community_division_breakdown($start, $end, top_n := $limit)
    group by all
)

select
    c.community_id,
    t.community_slug,
    c.division_id,
    d.name as division_name,
    t.visitors,
    t.signed_in_visitors,
    t.page_views,
    coalesce(b.divisions, []) as divisions
from totals as t
left join {dim_communities} as c on c.community_slug = t.community_slug
left join {dim_divisions} as d on d.division_id = c.division_id
left join breakdown as b on b.community_slug = t.community_slug
order by t.visitors desc, t.community_slug
