-- GET communities/: the communities of the dimension files, with their division.
select c.community_id, c.community_slug, c.division_id, d.name as division_name
from {dim_communities} as c
left join {dim_divisions} as d on d.division_id = c.division_id
order by c.community_id
