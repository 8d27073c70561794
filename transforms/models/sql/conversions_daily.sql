-- Grain: one row per day with human hits. A session key converts when its first signed-in
-- hit comes after its first anonymous hit (docs/analysts/communities.md); every hit counts, since
-- signing in is usually a POST. Parameters: $days, $tz, $include_crawlers.
with sessions as (
    select
        day,
        session_key,
        min(ts) filter (where user_hash is null) as first_anonymous,
        min(ts) filter (where user_hash is not null) as first_signed_in
    from visitor_hits($days, $tz, $include_crawlers)
    group by all
),

converted as (
    select
        *,
        first_signed_in > first_anonymous as is_conversion,
        epoch(first_signed_in) - epoch(first_anonymous) as seconds_to_conversion
    from sessions
),

final as (
    select
        day,
        count(*) filter (where first_anonymous is not null) as sessions_with_anonymous_hits,
        count(*) filter (where is_conversion) as conversions,
        round(avg(seconds_to_conversion) filter (where is_conversion), 1) as avg_seconds_to_conversion,
        sum(seconds_to_conversion) filter (where is_conversion) as seconds_to_conversion
    from converted
    group by all
)

select
    day,
    sessions_with_anonymous_hits,
    conversions,
    round(100.0 * conversions / nullif(sessions_with_anonymous_hits, 0), 2) as conversion_rate_pct,
    avg_seconds_to_conversion,
    seconds_to_conversion
from final
