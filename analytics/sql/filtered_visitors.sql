-- GET visitors/ under the country, page and referrer filters (docs/staff/api.md, Filters): the
-- visitors (docs/analysts/communities.md: a signed-in user once over the range, an anonymous visitor per
-- day) with a counted page view of [$days] matching every filter, and those page views.
with page_views as (
    select visitor_key, visitor_user_hash
    from visitor_hits($days, $tz, $include_crawlers)
    where is_page_view and {event_filter}
),

totals as (
    select
        count(distinct visitor_key) as visitors,
        count(distinct visitor_key) filter (where visitor_user_hash is not null) as signed_in_visitors,
        count(*) as page_views
    from page_views
)

select
    visitors,
    signed_in_visitors,
    visitors - signed_in_visitors as anonymous_visitors,
    round(100.0 * signed_in_visitors / nullif(visitors, 0), 2) as signed_in_pct,
    page_views,
    round(page_views / nullif(visitors, 0), 2) as page_views_per_visitor
from totals
