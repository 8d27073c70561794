-- Grain: one row per day, wall-clock hour, visitor and community (null: pages outside
-- communities), with the visitor's page views there. Parameters: $days, $tz, $include_crawlers.
select
    day,
    date_trunc('hour', local_ts) as hour,
    visitor_key,
    visitor_user_hash is not null as signed_in,
    community_slug,
    count(*) as page_views
from visitor_hits($days, $tz, $include_crawlers)
where is_page_view
group by all
