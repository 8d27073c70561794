-- GET referrers/, campaigns: page views of [$start, $end] of requests tagged with UTM
-- parameters, per (source, medium, campaign), the $limit largest.
select utm_source, utm_medium, utm_campaign, sum(page_views) as page_views, sum(visitors) as visitors
from {referrers_daily}
where day between $start and $end and (utm_source <> '' or utm_medium <> '' or utm_campaign <> '')
group by all
order by page_views desc, utm_source, utm_medium, utm_campaign
limit $limit
