-- GET referrers/, campaigns, under the filters: matching counted page views tagged with UTM
-- parameters per (source, medium, campaign), the $limit largest.
select
    coalesce(utm_source, '') as utm_source,
    coalesce(utm_medium, '') as utm_medium,
    coalesce(utm_campaign, '') as utm_campaign,
    count(*) as page_views,
    count(distinct (day, visitor_id)) as visitors
from page_views_local($days, $tz, $include_crawlers)
where {event_filter} and (utm_source <> '' or utm_medium <> '' or utm_campaign <> '')
group by all
order by page_views desc, utm_source, utm_medium, utm_campaign
limit $limit
