-- Grain: one row per day, post (a page view the routes gave a post_id), visitor, and the
-- page view's own user, sign-in state, country, device and referrer domain.
-- Parameters: $days, $tz, $include_crawlers.
select
    day,
    post_id,
    visitor_key,
    user_hash,
    user_hash is not null as signed_in,
    country_code,
    device_type,
    referrer_domain,
    count(*) as views
from visitor_hits($days, $tz, $include_crawlers)
where is_page_view and post_id is not null
group by all
