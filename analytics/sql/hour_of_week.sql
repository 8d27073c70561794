-- GET peak-visitors/, hour_of_week: page views and hourly unique visitors of [$start, $end]
-- summed per ISO weekday (1 = Monday) and wall-clock hour (traffic_hourly), with the busiest
-- single hour's visitors.
select
    isodow(hour) as weekday,
    hour(hour) as hour,
    sum(page_views) as page_views,
    sum(visitors) as visitors,
    max(visitors) as max_visitors
from {traffic_hourly}
where day between $start and $end
group by all
order by weekday, hour
