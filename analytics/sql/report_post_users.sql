-- The one-file report: views of posts by signed-in visitors per day, post and user
-- (report_users), the owner's own views left out (post_views_counted).
select p.day, p.post_id as post, u.user_number as user, cast(sum(p.views) as bigint) as views
from post_views_counted as p
join report_users as u on u.visitor_key = p.visitor_key
where p.day between $start and $end and p.signed_in
group by all
order by p.day, post, user
