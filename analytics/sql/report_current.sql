-- The one-file report: current visitors (the last 5 minutes of the newest data) of the site
-- ('(all)') and of each community, as GET realtime/ answers them.
select
    community_slug as community,
    strftime(window_end at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') as window_end,
    visitors
from current_visitors
order by community
