-- The one-file report: the kind of every post with counted views in [$start, $end].
select post_id as post, any_value(kind) as kind
from post_views_counted
where day between $start and $end
group by all
order by post
