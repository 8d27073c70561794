-- The one-file report: the rows of referrers_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's referrers query sums them).
select day, referrer_class, referrer_domain, utm_source, utm_medium, utm_campaign, page_views, visitors
from {referrers_daily}
where day between $start and $end
order by day
