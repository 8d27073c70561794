-- GET content/: posts of [$start, $end] by views, the post owner's own views left out
-- (post_views_counted, docs/analysts/communities.md). unique_viewers counts distinct visitors over the
-- whole range: a signed-in user once, an anonymous visitor once per day.
select
    post_id,
    any_value(kind) as kind,
    cast(sum(views) as bigint) as views,
    count(distinct visitor_key) as unique_viewers,
    cast(coalesce(sum(views) filter (where signed_in), 0) as bigint) as signed_in_views,
    cast(coalesce(sum(views) filter (where not signed_in), 0) as bigint) as anonymous_views
from post_views_counted
where day between $start and $end
group by post_id
order by views desc, post_id
limit $limit
