-- The one-file report: each day's 5-minute peak of visitors of [$start, $end], of the site
-- ('(all)') and of each community (peak_visitors_daily).
select
    day,
    community_slug as community,
    peak_visitors,
    strftime(window_start at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') as window_start
from {peak_visitors_daily}
where day between $start and $end
order by day, community
