-- The one-file report: traffic_hourly's page views and unique visitors per hour of [$start,
-- $end] (the peak-visitors heat map).
select hour, page_views, visitors
from {traffic_hourly}
where day between $start and $end
order by hour
