-- GET session/: the first and newest day with page views in the snapshot (the dashboard's "all").
select
    strftime(min(day), '%Y-%m-%d') as first_day,
    strftime(max(day), '%Y-%m-%d') as newest_day
from {daily_traffic}
where page_views > 0
