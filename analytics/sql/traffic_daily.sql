-- GET traffic/?interval=day: daily_traffic for every day of [$start, $end] (zeros where none;
-- rates null without visits). docs/analysts/metrics.md.
select
    strftime(days.day, '%Y-%m-%d') as label,
    coalesce(t.hits, 0) as hits,
    coalesce(t.page_views, 0) as page_views,
    coalesce(t.visitors, 0) as visitors,
    coalesce(t.visits, 0) as visits,
    t.bounce_rate,
    t.avg_visit_duration_s
from calendar_days($start, $end) as days
left join {daily_traffic} as t using (day)
order by days.day
