-- GET referrers/, referrers, under the filters: matching counted page views per referrer class
-- and domain (as referrers_daily: 'direct' and '' without a referrer), the $limit largest.
select
    coalesce(referrer_class, 'direct') as referrer_class,
    coalesce(referrer_domain, '') as referrer_domain,
    count(*) as page_views,
    count(distinct (day, visitor_id)) as visitors
from page_views_local($days, $tz, $include_crawlers)
where {event_filter}
group by all
order by page_views desc, referrer_class, referrer_domain
limit $limit
