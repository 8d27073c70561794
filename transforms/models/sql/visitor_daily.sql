-- Grain: one row per day (FOOTFALL_TIMEZONE) and visitor (docs/analysts/communities.md): the
-- visitor's user, the first page view of the day and where GeoIP placed it.
-- Parameters: $days, $tz, $include_crawlers.
with page_views as (
    select day, visitor_key, visitor_user_hash, ts, country_code, subdivision_code, city
    from visitor_hits($days, $tz, $include_crawlers)
    where is_page_view
),

final as (
    select
        day,
        visitor_key,
        any_value(visitor_user_hash) as user_hash,
        min(ts) as first_ts,
        -- A struct keeps a null location of the first page view (arg_min skips null values).
        arg_min({'country': country_code, 'subdivision': subdivision_code, 'city': city}, ts) as geo,
        count(*) as page_views
    from page_views
    group by all
)

select
    day,
    visitor_key,
    user_hash,
    first_ts,
    geo.country as country_code,
    geo.subdivision as subdivision_code,
    geo.city as city,
    page_views
from final
