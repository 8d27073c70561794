-- GoAccess's definitions, side by side with footfall's (docs/analysts/metrics.md):
-- days as logged (the line's own UTC offset, no time-zone conversion), every hit counted,
-- crawlers included, and a unique visitor = the same client address + date + user agent.
-- GoAccess 1.7 leaves requests answered 4xx out of unique visitors unless it is run with
-- --4xx-to-unique-count; this view does the same, which reproduces its per-day numbers.
-- The address and user agent are compared through their keyed hashes: no raw IP needed.
create or replace view goaccess_daily as
select
    cast(timezone('UTC', ts) + to_minutes(coalesce(utc_offset_minutes, 0)) as date) as day_as_logged,
    count(*) as hits,
    count(distinct (client_ip_hash, user_agent_id)) filter (where status not between 400 and 499) as visitors,
    coalesce(sum(bytes_sent), 0) as bytes
from events
group by all;
