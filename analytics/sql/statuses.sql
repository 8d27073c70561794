-- GET status-codes/: hits of [$start, $end] per HTTP status (every hit, crawlers included).
select status, sum(hits) as hits
from {status_daily}
where day between $start and $end
group by all
order by status
