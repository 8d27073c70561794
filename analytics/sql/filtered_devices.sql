-- GET devices/ under the filters: matching counted page views per device type, browser family
-- and OS family (as devices_daily: 'other' / 'Other' when unknown), one grouping set each.
with page_views as (
    select
        day,
        visitor_id,
        coalesce(device_type, 'other') as device_type,
        coalesce(browser_family, 'Other') as browser_family,
        coalesce(os_family, 'Other') as os_family
    from page_views_local($days, $tz, $include_crawlers)
    where {event_filter}
)

select
    case
        when grouping(device_type) = 0 then 'device_type'
        when grouping(browser_family) = 0 then 'browser_family'
        else 'os_family'
    end as dimension,
    coalesce(device_type, browser_family, os_family) as name,
    count(*) as page_views,
    count(distinct (day, visitor_id)) as visitors
from page_views
group by grouping sets ((device_type), (browser_family), (os_family))
order by dimension, page_views desc, name
