-- GET content/<post_id>/: one post's views of [$start, $end] by country, device type and
-- referrer domain (owner's views left out), with distinct visitors over the range.
select
    case
        when grouping(country_code) = 0 then 'country_code'
        when grouping(device_type) = 0 then 'device_type'
        else 'referrer_domain'
    end as dimension,
    case
        when grouping(country_code) = 0 then country_code
        when grouping(device_type) = 0 then device_type
        else referrer_domain
    end as name,
    cast(sum(views) as bigint) as views,
    count(distinct visitor_key) as unique_viewers
from post_views_counted
where day between $start and $end and post_id = $post_id
group by grouping sets ((country_code), (device_type), (referrer_domain))
order by dimension, views desc, name nulls last
