-- Grain: one row per UTC hour with page views: the shape of the visit-tracking report.
-- Parameters: $days (date[]), $start, $end (timestamptz). Used for whole days by the
-- aggregation step and for one report interval by the report builder.
with page_views as (
    select * from events
    where event_date = any($days) and ts >= $start and ts < $end
        and is_page_view(method, status, path)
),

final as (
    select
        to_timestamp((epoch_us(ts) // 3600000000) * 3600) as hour,
        count(*) as page_views,
        histogram(path) as paths,
        histogram(coalesce(left(user_agent, 100), '-')) as user_agents,
        -- GeoIP enrichment is not part of the event schema yet: every visitor is Unknown.
        histogram('Unknown') as countries
    from page_views
    group by all
)

select * from final
