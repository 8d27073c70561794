-- GET status-codes/, top_404_paths: the $limit paths of [$start, $end] with the most counted
-- hits answered 404 (error_paths_daily: crawlers only when counted).
select path, sum(hits) as hits
from {error_paths_daily}
where day between $start and $end and status = 404
group by all
order by hits desc, path
limit $limit
