-- Table macros over the events view, (re)created with it. Every aggregate model reads
-- events through these, so the day boundary, the crawler rule and the page-view rule are
-- written once. Parameters: days (date[] in the reporting time zone), tz (IANA name),
-- include_crawlers (boolean, FOOTFALL_COUNT_CRAWLERS).

-- Events whose day in time zone tz is one of days. A local day spans at most the UTC
-- partitions of the day before and after, so only those are read.
create or replace macro events_local(days, tz) as table
    select
        *,
        timezone(tz, ts) as local_ts,
        cast(timezone(tz, ts) as date) as day,
        is_page_view(method, status, path) as is_page_view
    from events
    where event_date between cast(list_min(days) as date) - 1 and cast(list_max(days) as date) + 1
        and cast(timezone(tz, ts) as date) = any(days);

-- The page views that count: is_page_view, and not by a crawler unless crawlers are counted.
create or replace macro page_views_local(days, tz, include_crawlers) as table
    select *
    from events_local(days, tz)
    where is_page_view and (include_crawlers or not coalesce(is_crawler, false));
