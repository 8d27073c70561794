-- Grain: one row per day, post (a page view the routes gave a post_id), visitor, and the
-- page view's country (Unknown: not located), device and referrer domain. user_hash and
-- signed_in are the visitor's (docs/analysts/communities.md): an anonymous view in a session that
-- signs in is the user's, so an owner's views before signing in are the owner's too.
-- Parameters: $days, $tz, $include_crawlers.
select
    day,
    post_id,
    visitor_key,
    visitor_user_hash as user_hash,
    visitor_user_hash is not null as signed_in,
    coalesce(country_code, 'Unknown') as country_code,
    device_type,
    referrer_domain,
    count(*) as views
from visitor_hits($days, $tz, $include_crawlers)
where is_page_view and post_id is not null
group by all
