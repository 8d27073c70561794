-- Grain: one row per day (FOOTFALL_TIMEZONE), HTTP error status (400 and above) and path:
-- the counted hits (every method; crawlers only when FOOTFALL_COUNT_CRAWLERS) answered with
-- an error, e.g. the broken links people follow (404). Crawlers' errors are in status_daily.
-- Parameters: $days, $tz, $include_crawlers.
with errors as (
    select day, status, path
    from counted_hits_local($days, $tz, $include_crawlers)
    where status >= 400
),

final as (
    select day, status, coalesce(path, '') as path, count(*) as hits
    from errors
    group by all
)

select * from final
