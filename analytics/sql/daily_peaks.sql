-- GET peak-visitors/, daily_peaks: each day's largest number of distinct visitors inside one
-- 5-minute window (peak_visitors_daily, docs/analysts/communities.md), of the site or of one community.
select
    strftime(day, '%Y-%m-%d') as date,
    peak_visitors,
    strftime(window_start at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') as window_start
from {peak_visitors_daily}
where day between $start and $end and community_slug = coalesce($community, '(all)')
order by day
