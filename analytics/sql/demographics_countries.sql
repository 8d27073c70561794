-- GET demographics/, top_countries: visitors of [$start, $end] per country of their division,
-- the $limit largest, named after the country's top-level division (else its ISO code).
select
    t.iso_country,
    coalesce(
        (select min_by(d.name, d.division_id) from {dim_divisions} as d
         where d.iso_country = t.iso_country and d.parent_id is null),
        t.iso_country
    ) as name,
    t.visitors,
    t.pct
from top_countries($start, $end, top_n := $limit) as t
order by t.rank
