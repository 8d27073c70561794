-- The one-file report: a report-local integer (1, 2, ...) for each signed-in visitor of
-- [$start, $end], in order of their first page view in the range. The report counts users
-- once over any range with these integers; no user hash leaves the snapshot.
create or replace temp table report_users as
select visitor_key, row_number() over (order by min(first_ts), visitor_key) as user_number
from {visitor_daily}
where day between $start and $end and user_hash is not null
group by visitor_key
