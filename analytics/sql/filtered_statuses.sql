-- GET status-codes/ under the filters: matching hits per HTTP status (every hit, crawlers included).
select status, count(*) as hits
from events_local($days, $tz)
where {event_filter}
group by all
order by status
