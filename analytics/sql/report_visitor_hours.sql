-- The one-file report: distinct visitors per wall-clock hour of [$start, $end], signed in and
-- anonymous, of the whole site ('(all)') and of each community's pages (trends per hour).
select
    hour,
    coalesce(community_slug, '(all)') as community,
    count(distinct visitor_key) filter (where signed_in) as signed_in_visitors,
    count(distinct visitor_key) filter (where not signed_in) as anonymous_visitors
from {visitor_hourly}
where day between $start and $end
group by grouping sets ((hour), (hour, community_slug))
having grouping(community_slug) = 1 or community_slug is not null
order by hour, community
