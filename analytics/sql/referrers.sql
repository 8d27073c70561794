-- GET referrers/, referrers: page views of [$start, $end] per referrer class and domain, the
-- $limit largest (referrers_daily, docs/analysts/metrics.md). visitors sums each day's unique visitors.
select referrer_class, referrer_domain, sum(page_views) as page_views, sum(visitors) as visitors
from {referrers_daily}
where day between $start and $end
group by all
order by page_views desc, referrer_class, referrer_domain
limit $limit
