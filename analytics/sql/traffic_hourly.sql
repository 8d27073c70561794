-- GET traffic/?interval=hour: traffic_hourly for every hour of [$start, $end] (zeros where
-- none; rates null without visits). A visit belongs to the hour of its first page view.
select
    strftime(hours.hour, '%Y-%m-%dT%H:00') as label,
    coalesce(t.hits, 0) as hits,
    coalesce(t.page_views, 0) as page_views,
    coalesce(t.visitors, 0) as visitors,
    coalesce(t.visits, 0) as visits,
    round(100.0 * t.bounces / nullif(t.visits, 0), 2) as bounce_rate,
    round(t.visit_duration_s / nullif(t.visits, 0), 1) as avg_visit_duration_s
from calendar_hours($start, $end) as hours
left join {traffic_hourly} as t using (hour)
order by hours.hour
