-- GET crawlers/: hits and bytes of [$start, $end] per crawler name (bots_daily, docs/analysts/metrics.md).
select crawler_name, sum(hits) as hits, sum(bytes) as bytes
from {bots_daily}
where day between $start and $end
group by all
order by hits desc, crawler_name
limit $limit
