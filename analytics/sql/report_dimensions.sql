-- The one-file report: every division with its type and ancestors (itself included), and the
-- communities with their division: what the page needs to filter by division and name things.
select
    d.division_id,
    d.name,
    d.type,
    list(a.ancestor_id order by a.ancestor_id) filter (where a.ancestor_id is not null) as ancestors
from {dim_divisions} as d
left join {dim_division_ancestors} as a on a.division_id = d.division_id
group by all
order by d.division_id
