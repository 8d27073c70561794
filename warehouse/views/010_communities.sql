-- The community, division, signed-in and content views of docs/analysts/communities.md, over the
-- per-day visitor tables (warehouse/ddl/006_visitor_tables.sql) and the dimension tables.
-- Dimensions are joined at query time, so a new dimension file applies to every day kept.

-- GeoIP location -> division, most specific match first: city, subdivision, country.
-- Subdivisions are full ISO 3166-2 codes ('CA-ON') on both sides (transforms/models/dimensions.py).
create or replace macro geo_division(country, subdivision, city_name) as (
    select first(d.division_id order by
        case when d.city_names is not null then 3 when d.iso_subdivision is not null then 2 else 1 end desc,
        d.division_id)
    from dim_divisions as d
    where d.iso_country = country
        and (
            (d.city_names is not null
                and list_contains(string_split(d.city_names, '|'), city_name)
                and (d.iso_subdivision is null or d.iso_subdivision = subdivision))
            or (d.city_names is null and d.iso_subdivision = subdivision)
            or (d.city_names is null and d.iso_subdivision is null)
        )
);

-- visitor_daily with the visitor's division of that day: the user's home division, else
-- GeoIP of the day's first page view; null is Unknown.
create or replace view visitor_daily_divisions as
with locations as (
    select distinct country_code, subdivision_code, city from visitor_daily
),

located as (
    select *, geo_division(country_code, subdivision_code, city) as geo_division_id from locations
)

select v.*, coalesce(u.home_division_id, l.geo_division_id) as division_id
from visitor_daily as v
left join dim_users as u on u.user_hash = v.user_hash
left join located as l
    on l.country_code is not distinct from v.country_code
    and l.subdivision_code is not distinct from v.subdivision_code
    and l.city is not distinct from v.city;

-- One row per visitor of [start_day, end_day]: division of the earliest page view, user, page views.
create or replace macro range_visitors(start_day, end_day) as table
    select
        visitor_key,
        any_value(user_hash) as user_hash,
        -- arg_min_null: a null division (Unknown) of the earliest page view counts too.
        arg_min_null(division_id, first_ts) as division_id,
        cast(sum(page_views) as bigint) as page_views
    from visitor_daily_divisions
    where day between cast(start_day as date) and cast(end_day as date)
    group by visitor_key;

-- A division is inside another when the other is itself or one of its ancestors.
create or replace macro division_within(division, container) as
    exists (select 1 from dim_division_ancestors as a where a.division_id = division and a.ancestor_id = container);

create or replace view community_daily as
with community_visitors as (
    select day, community_slug, visitor_key, sum(page_views) as page_views
    from visitor_hourly
    where community_slug is not null
    group by all
),

classified as (
    select
        cv.*,
        c.community_id,
        c.division_id,
        v.user_hash,
        v.division_id as visitor_division_id,
        division_within(v.division_id, c.division_id) as same_division
    from community_visitors as cv
    join visitor_daily_divisions as v on v.day = cv.day and v.visitor_key = cv.visitor_key
    left join dim_communities as c on c.community_slug = cv.community_slug
),

final as (
    select
        day,
        community_slug,
        any_value(community_id) as community_id,
        any_value(division_id) as division_id,
        count(*) as visitors,
        count(*) filter (where user_hash is not null) as signed_in_visitors,
        count(*) filter (where user_hash is null) as anonymous_visitors,
        cast(sum(page_views) as bigint) as page_views,
        count(*) filter (where same_division) as same_division_visitors,
        count(*) filter (where visitor_division_id is not null and not same_division) as cross_division_visitors,
        count(*) filter (where visitor_division_id is null) as unknown_division_visitors
    from classified
    group by day, community_slug
)

select *, round(100.0 * cross_division_visitors / visitors, 2) as cross_division_pct
from final;

-- Visitors of each community per visitor division over a range, top N per community.
create or replace macro community_division_breakdown(start_day, end_day, top_n := 10) as table
    with community_visitors as (
        select distinct community_slug, visitor_key
        from visitor_hourly
        where community_slug is not null and day between cast(start_day as date) and cast(end_day as date)
    ),

    counts as (
        select cv.community_slug, v.division_id, count(*) as visitors
        from community_visitors as cv
        join range_visitors(start_day, end_day) as v on v.visitor_key = cv.visitor_key
        group by all
    ),

    ranked as (
        select
            *,
            round(100.0 * visitors / sum(visitors) over (partition by community_slug), 2) as pct,
            row_number() over (partition by community_slug order by visitors desc, division_id asc nulls last) as rank
        from counts
    )

    select r.community_slug, r.division_id, coalesce(d.name, 'Unknown') as division_name, r.visitors, r.pct, r.rank
    from ranked as r
    left join dim_divisions as d on d.division_id = r.division_id
    where r.rank <= top_n
    order by r.community_slug, r.rank;

-- Visitors from one division to communities of a division their own is not inside.
create or replace macro cross_division_flows(start_day, end_day) as table
    with community_visitors as (
        select community_slug, visitor_key, sum(page_views) as page_views
        from visitor_hourly
        where community_slug is not null and day between cast(start_day as date) and cast(end_day as date)
        group by all
    ),

    flows as (
        select v.division_id as from_division_id, c.division_id as to_division_id, cv.visitor_key, cv.page_views
        from community_visitors as cv
        join range_visitors(start_day, end_day) as v on v.visitor_key = cv.visitor_key
        join dim_communities as c on c.community_slug = cv.community_slug
        where v.division_id is not null and not division_within(v.division_id, c.division_id)
    )

    select from_division_id, to_division_id, count(distinct visitor_key) as visitors, cast(sum(page_views) as bigint) as page_views
    from flows
    group by all
    order by visitors desc, from_division_id, to_division_id;

-- Visitors over a range, optionally of one community's pages and/or from inside one division.
-- Without a community, each visitor's page views are range_visitors' own: visitor_hourly is
-- read only for a community (a year of it is ~3 times the rows of visitor_daily).
create or replace macro visitor_stats(start_day, end_day, community := null, division := null) as table
    with community_page_views as (
        select visitor_key, sum(page_views) as page_views
        from visitor_hourly
        where community is not null and community_slug = community
            and day between cast(start_day as date) and cast(end_day as date)
        group by all
    ),

    selected as (
        select
            v.visitor_key,
            v.user_hash,
            case when community is null then v.page_views else p.page_views end as page_views
        from range_visitors(start_day, end_day) as v
        left join community_page_views as p on p.visitor_key = v.visitor_key
        where (community is null or p.visitor_key is not null)
            and (division is null or division_within(v.division_id, division))
    ),

    totals as (
        select
            count(*) as visitors,
            count(*) filter (where user_hash is not null) as signed_in_visitors,
            count(*) filter (where user_hash is null) as anonymous_visitors,
            cast(coalesce(sum(page_views), 0) as bigint) as page_views
        from selected
    )

    select
        visitors,
        signed_in_visitors,
        anonymous_visitors,
        round(100.0 * signed_in_visitors / nullif(visitors, 0), 2) as signed_in_pct,
        page_views,
        round(page_views / nullif(visitors, 0), 2) as page_views_per_visitor
    from totals;

-- "Today" of a batch pipeline: the newest day with page views.
create or replace macro newest_day() as (select max(day) from visitor_daily);

create or replace view visitor_stats_today as
select * from visitor_stats(newest_day(), newest_day());

create or replace view visitor_stats_7d as
select * from visitor_stats(newest_day() - 6, newest_day());

create or replace view visitor_stats_30d as
select * from visitor_stats(newest_day() - 29, newest_day());

-- Visitors per hour, day, week (ISO, from Monday) or month of [start_day, end_day].
create or replace macro trends(grain, start_day, end_day) as table
    select
        date_trunc(grain, hour) as period_start,
        count(distinct visitor_key) as visitors,
        count(distinct visitor_key) filter (where signed_in) as signed_in_visitors,
        count(distinct visitor_key) filter (where not signed_in) as anonymous_visitors
    from visitor_hourly
    where day between cast(start_day as date) and cast(end_day as date)
    group by all
    order by period_start;

-- Visitors by the type of their division (Unknown: none).
create or replace macro demographics(start_day, end_day) as table
    select
        coalesce(d.type, 'Unknown') as division_type,
        count(*) as visitors,
        round(100.0 * count(*) / sum(count(*)) over (), 2) as pct
    from range_visitors(start_day, end_day) as v
    left join dim_divisions as d on d.division_id = v.division_id
    group by all
    order by visitors desc, division_type;

-- Visitors per country of their division (Unknown: visitors without a division), with their
-- share of all visitors of the range; Unknown ranks last among equals.
create or replace macro top_countries(start_day, end_day, top_n := 10) as table
    with counts as (
        select d.iso_country, count(*) as visitors
        from range_visitors(start_day, end_day) as v
        left join dim_divisions as d on d.division_id = v.division_id
        group by all
    ),

    ranked as (
        select
            coalesce(iso_country, 'Unknown') as iso_country,
            visitors,
            round(100.0 * visitors / sum(visitors) over (), 2) as pct,
            row_number() over (order by visitors desc, iso_country asc nulls last) as rank
        from counts
    )

    select * from ranked where rank <= top_n order by rank;

-- The last 1, 7 or 30 days (day, week, month) ending at the newest day against the same
-- number of days before. stable_pct: a change within this many percent is "stable"; the API
-- and `cli export growth` pass FOOTFALL_GROWTH_STABLE_PCT.
create or replace macro growth(period, stable_pct := 5) as table
    with bounds as (
        select
            newest_day() as newest,
            case period when 'day' then 1 when 'week' then 7 when 'month' then 30 end as days,
            cast(stable_pct as double) as stable
    ),

    current_period as (
        select * from visitor_stats(
            (select newest - days + 1 from bounds), (select newest from bounds)
        )
    ),

    previous_period as (
        select * from visitor_stats(
            (select newest - 2 * days + 1 from bounds), (select newest - days from bounds)
        )
    ),

    pairs as (
        select 'visitors' as metric, c.visitors as current, p.visitors as previous
        from current_period as c, previous_period as p
        union all
        select 'signed_in_visitors', c.signed_in_visitors, p.signed_in_visitors
        from current_period as c, previous_period as p
        union all
        select 'page_views', c.page_views, p.page_views
        from current_period as c, previous_period as p
    ),

    rated as (
        select *, round(100.0 * (current - previous) / nullif(previous, 0), 2) as growth_pct from pairs
    )

    select
        metric,
        current,
        previous,
        growth_pct,
        case
            when previous = 0 and current = 0 then 'stable'
            when previous = 0 or growth_pct > (select stable from bounds) then 'increasing'
            when growth_pct < -(select stable from bounds) then 'decreasing'
            else 'stable'
        end as trend
    from rated;

-- The largest daily 5-minute peak per week or month (or day) and community.
create or replace macro peak_visitors(grain) as table
    select
        cast(date_trunc(grain, day) as date) as period_start,
        community_slug,
        max(peak_visitors) as peak_visitors,
        arg_min(window_start, [-peak_visitors, epoch_us(window_start)]) as window_start
    from peak_visitors_daily
    group by all
    order by period_start, community_slug;

create or replace view current_visitors as
select community_slug, window_end, visitors
from current_visitors_daily
where day = (select max(day) from current_visitors_daily);

-- Post views without the owner's own views (the owner as visitor, docs/analysts/communities.md).
create or replace view post_views_counted as
select p.*, c.kind
from post_views_daily as p
left join dim_content as c on c.post_id = p.post_id
where c.owner_user_hash is null or p.user_hash is distinct from c.owner_user_hash;

create or replace view content_views_daily as
select
    day,
    post_id,
    country_code,
    device_type,
    referrer_domain,
    signed_in,
    cast(sum(views) as bigint) as views,
    count(distinct visitor_key) as unique_viewers
from post_views_counted
group by all;

create or replace view content_views_summary as
select
    day,
    post_id,
    cast(sum(views) as bigint) as views,
    count(distinct visitor_key) as unique_viewers,
    cast(coalesce(sum(views) filter (where signed_in), 0) as bigint) as signed_in_views,
    cast(coalesce(sum(views) filter (where not signed_in), 0) as bigint) as anonymous_views
from post_views_counted
group by all;
