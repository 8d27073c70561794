-- GET trends/ under the filters: distinct visitors (visitor_key, as trends/) per $grain of
-- [$start, $end] among the counted page views matching every filter, every period listed.
with counts as (
    select
        date_trunc($grain, case when $grain = 'hour' then local_ts else cast(day as timestamp) end) as period_start,
        count(distinct visitor_key) as visitors,
        count(distinct visitor_key) filter (where visitor_user_hash is not null) as signed_in_visitors,
        count(distinct visitor_key) filter (where visitor_user_hash is null) as anonymous_visitors
    from visitor_hits($days, $tz, $include_crawlers)
    where is_page_view and {event_filter}
    group by all
)

select
    strftime(p.period_start, case when $grain = 'hour' then '%Y-%m-%dT%H:00' else '%Y-%m-%d' end) as label,
    coalesce(c.visitors, 0) as visitors,
    coalesce(c.signed_in_visitors, 0) as signed_in_visitors,
    coalesce(c.anonymous_visitors, 0) as anonymous_visitors
from {trend_periods} as p
left join counts as c using (period_start)
order by p.period_start
