-- GET devices/: page views of [$start, $end] per device type, browser family and OS family
-- (devices_daily, docs/analysts/metrics.md), one grouping set each. visitors sums daily unique visitors.
select
    case
        when grouping(device_type) = 0 then 'device_type'
        when grouping(browser_family) = 0 then 'browser_family'
        else 'os_family'
    end as dimension,
    coalesce(device_type, browser_family, os_family) as name,
    sum(page_views) as page_views,
    sum(visitors) as visitors
from {devices_daily}
where day between $start and $end
group by grouping sets ((device_type), (browser_family), (os_family))
order by dimension, page_views desc, name
