-- GET cross-division-flows/: visitors of [$start, $end] from one division to communities of a
-- division their own is not inside (docs/analysts/communities.md), the $limit largest, with names.
select
    f.from_division_id,
    fd.name as from_division_name,
    f.to_division_id,
    td.name as to_division_name,
    f.visitors,
    f.page_views
from cross_division_flows($start, $end) as f
left join {dim_divisions} as fd on fd.division_id = f.from_division_id
left join {dim_divisions} as td on td.division_id = f.to_division_id
order by f.visitors desc, f.page_views desc, f.from_division_id, f.to_division_id
limit $limit
