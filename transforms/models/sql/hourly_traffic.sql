-- Grain: one row per hour (wall-clock hour in FOOTFALL_TIMEZONE) with counted page views: the
-- shape of the visit-tracking report. Parameters: $days, $tz, $include_crawlers, and $start,
-- $end (timestamptz): the aggregation step passes whole days, the report builder one interval.
with page_views as (
    select local_ts, path, user_agent, country_code
    from page_views_local($days, $tz, $include_crawlers)
    where ts >= $start and ts < $end
),

final as (
    select
        date_trunc('hour', local_ts) as hour,
        count(*) as page_views,
        histogram(path) as paths,
        histogram(coalesce(left(user_agent, 100), '-')) as user_agents,
        histogram(coalesce(country_code, 'Unknown')) as countries
    from page_views
    group by all
)

select * from final
