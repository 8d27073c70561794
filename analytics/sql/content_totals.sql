-- GET content/<post_id>/, totals: the post's kind, views and distinct visitors of [$start, $end].
select
    (select kind from {dim_content} where post_id = $post_id) as kind,
    cast(coalesce(sum(views), 0) as bigint) as views,
    count(distinct visitor_key) as unique_viewers
from post_views_counted
where day between $start and $end and post_id = $post_id
