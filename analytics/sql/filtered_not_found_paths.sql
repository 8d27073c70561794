-- GET status-codes/, top_404_paths, under the filters: the $limit paths with the most counted
-- hits (crawlers only when counted) answered 404 among the matching hits.
select coalesce(path, '') as path, count(*) as hits
from counted_hits_local($days, $tz, $include_crawlers)
where status = 404 and {event_filter}
group by all
order by hits desc, path
limit $limit
