-- GET peak-visitors/, hour_of_week, under the filters: matching counted page views and each
-- hour's unique visitors among them, summed per ISO weekday and wall-clock hour, with the
-- busiest single hour's visitors.
with hours as (
    select date_trunc('hour', local_ts) as hour, count(*) as page_views, count(distinct visitor_id) as visitors
    from page_views_local($days, $tz, $include_crawlers)
    where {event_filter}
    group by all
)

select
    isodow(hour) as weekday,
    hour(hour) as hour,
    sum(page_views) as page_views,
    sum(visitors) as visitors,
    max(visitors) as max_visitors
from hours
group by all
order by weekday, hour
