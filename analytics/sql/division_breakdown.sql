-- GET division-breakdown/: visitors of [$start, $end] per division (each visitor's division,
-- docs/analysts/communities.md), the $limit largest; Unknown (no division) ranks last among equals.
with counts as (
    select division_id, count(*) as visitors
    from range_visitors($start, $end)
    group by all
),

ranked as (
    select
        *,
        round(100.0 * visitors / sum(visitors) over (), 2) as pct,
        row_number() over (order by visitors desc, division_id asc nulls last) as rank
    from counts
)

select
    r.division_id,
    coalesce(d.name, 'Unknown') as division_name,
    coalesce(d.type, 'Unknown') as division_type,
    r.visitors,
    r.pct
from ranked as r
left join {dim_divisions} as d on d.division_id = r.division_id
where r.rank <= $limit
order by r.rank
