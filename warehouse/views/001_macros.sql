-- Table macros over the events view, (re)created with it. Every aggregate model reads
-- events through these, so the day boundary, the crawler rule and the page-view rule are
-- written once. Parameters: days (date[] in the reporting time zone), tz (IANA name),
-- include_crawlers (boolean, FOOTFALL_COUNT_CRAWLERS).

-- The wall-clock time in time zone tz of the timestamptz ts: timezone(tz, ts). In UTC that is
-- ts's own microseconds, which take ~30 times less CPU to read than to convert (the aggregation
-- converts millions of rows).
create or replace macro local_time(tz, ts) as
    case when tz = 'UTC' then make_timestamp(epoch_us(ts)) else timezone(tz, ts) end;

-- Events whose day in time zone tz is one of days. A local day spans at most the UTC
-- partitions of the day before and after, so only those are read. The inner select converts
-- each time once, where the filter and the columns would each convert it again.
create or replace macro events_local(days, tz) as table
    select
        *,
        cast(local_ts as date) as day,
        is_page_view(method, status, path) as is_page_view
    from (
        select *, local_time(tz, ts) as local_ts
        from events
        where event_date between cast(list_min(days) as date) - 1 and cast(list_max(days) as date) + 1
    )
    where cast(local_ts as date) = any(days);

-- The page views that count: is_page_view, and not by a crawler unless crawlers are counted.
create or replace macro page_views_local(days, tz, include_crawlers) as table
    select *
    from events_local(days, tz)
    where is_page_view and (include_crawlers or not coalesce(is_crawler, false));

-- Every hit that counts, of any method and status: crawlers only when counted.
create or replace macro counted_hits_local(days, tz, include_crawlers) as table
    select *
    from events_local(days, tz)
    where include_crawlers or not coalesce(is_crawler, false);

-- Hits that count for the community and signed-in metrics (docs/analysts/communities.md): every
-- method and status, crawlers only when counted, with
--   session_key: session_hash when the session field is logged, else the daily visitor_id;
--   visitor_key: the hit's own user_hash when signed in, else the first user (by time) whose
--     signed-in hit shares its session key that day, else the session key;
--   visitor_user_hash: the user of visitor_key (null for an anonymous visitor).
create or replace macro visitor_hits(days, tz, include_crawlers) as table
    with hits as (
        select *, coalesce(session_hash, visitor_id) as session_key
        from events_local(days, tz)
        where include_crawlers or not coalesce(is_crawler, false)
    ),
    session_users as (
        select day, session_key, arg_min(user_hash, ts) as session_user
        from hits
        where user_hash is not null
        group by all
    )
    select
        hits.*,
        coalesce(hits.user_hash, s.session_user, hits.session_key) as visitor_key,
        coalesce(hits.user_hash, s.session_user) as visitor_user_hash
    from hits
    left join session_users as s on s.day = hits.day and s.session_key = hits.session_key;

-- One row per visit (docs/analysts/metrics.md, Visits) of the counted page views of days: a visitor's
-- page views whose gaps are shorter than session_gap_s seconds. Visitor ids change daily, so
-- a visit ends at midnight. entry_path is its first page view's path (at equal times, the
-- smallest path); first_hour is that page view's wall-clock hour in tz.
create or replace macro visits_local(days, tz, include_crawlers, session_gap_s) as table
    with page_views as (
        select day, visitor_id, ts, local_ts, path from page_views_local(days, tz, include_crawlers)
    ),
    gaps as (
        select *, epoch(ts) - epoch(lag(ts) over (partition by day, visitor_id order by ts)) as gap_s
        from page_views
    ),
    -- Page views of one visitor in the same second tie on ts: ordering them by gap_s too (the
    -- one lag() compared with the previous second first) makes this window see them in the
    -- order the gaps were computed in, so a tie cannot start a visit at the wrong row.
    numbered as (
        select
            *,
            count(*) filter (where gap_s is null or gap_s >= session_gap_s)
                over (partition by day, visitor_id order by ts, gap_s desc nulls first rows unbounded preceding)
                as visit_number
        from gaps
    )
    select
        day,
        visitor_id,
        visit_number,
        min(ts) as first_ts,
        date_trunc('hour', min(local_ts)) as first_hour,
        arg_min(path, (ts, path)) as entry_path,
        count(*) as page_views,
        epoch(max(ts)) - epoch(min(ts)) as duration_s
    from numbered
    group by day, visitor_id, visit_number;

-- Every day of [start_day, end_day], and every wall-clock hour of those days: the rows a
-- series with zeros where nothing happened is joined onto (the analytics API's series).
create or replace macro calendar_days(start_day, end_day) as table
    select cast(unnest(generate_series(cast(start_day as date), cast(end_day as date), interval 1 day)) as date) as day;

create or replace macro calendar_hours(start_day, end_day) as table
    select unnest(generate_series(
        cast(cast(start_day as date) as timestamp), cast(cast(end_day as date) as timestamp) + interval 23 hour,
        interval 1 hour
    )) as hour;
