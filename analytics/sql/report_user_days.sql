-- The one-file report, signed-in visitors: per day, user (report_users) and community (null:
-- pages outside communities), the page views, with the user's division of that day
-- (visitor_daily_divisions: home division, else GeoIP of the day's first page view).
select
    h.day,
    u.user_number as user,
    v.division_id as division,
    h.community_slug as community,
    cast(sum(h.page_views) as bigint) as page_views
from {visitor_hourly} as h
join report_users as u on u.visitor_key = h.visitor_key
join visitor_daily_divisions as v on v.day = h.day and v.visitor_key = h.visitor_key
where h.day between $start and $end and h.signed_in
group by all
order by h.day, user, community nulls first
