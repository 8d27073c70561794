-- The one-file report: views of posts by anonymous visitors per day and post, with their
-- distinct visitors (a key lives one day, so days add up), the owner's views left out.
select day, post_id as post, count(distinct visitor_key) as viewers, cast(sum(views) as bigint) as views
from post_views_counted
where day between $start and $end and not signed_in
group by all
order by day, post
