-- Materialised aggregates, rebuilt per affected day (a date in FOOTFALL_TIMEZONE) by
-- transforms/models/sql/<table>.sql. Definitions of every metric: docs/analysts/metrics.md.
-- They are derived data: when AGGREGATES_VERSION in warehouse/storage.py changes, they are
-- dropped, created again from this file and rebuilt from the events.

create table if not exists visits_daily (
    day                  date primary key,
    visits               bigint not null,
    bounces              bigint not null,
    bounce_rate          double not null,   -- % of visits with one page view
    avg_visit_duration_s double not null,   -- seconds, last minus first page view; bounces count 0
    pages_per_visit      double not null
);

create table if not exists daily_traffic (
    day                  date primary key,
    hits                 bigint not null,
    page_views           bigint not null,
    visitors             bigint not null,
    bytes                bigint not null,
    visits               bigint not null,
    bounce_rate          double,
    avg_visit_duration_s double,
    pages_per_visit      double
);

create table if not exists status_daily (
    day    date not null,
    status smallint not null,
    hits   bigint not null,
    primary key (day, status)
);

create table if not exists page_daily (
    day        date not null,
    path       varchar not null,
    page_views bigint not null,
    visitors   bigint not null,
    primary key (day, path)
);

create table if not exists hourly_traffic (
    hour        timestamp primary key,      -- wall-clock hour start in FOOTFALL_TIMEZONE
    page_views  bigint not null,
    paths       map(varchar, bigint) not null,
    user_agents map(varchar, bigint) not null,
    countries   map(varchar, bigint) not null
);

create table if not exists referrers_daily (
    day             date not null,
    referrer_class  varchar not null,       -- direct, internal, search, social, other
    referrer_domain varchar not null,       -- '' when direct
    utm_source      varchar not null,       -- '' when not tagged
    utm_medium      varchar not null,
    utm_campaign    varchar not null,
    page_views      bigint not null,
    visitors        bigint not null,
    primary key (day, referrer_class, referrer_domain, utm_source, utm_medium, utm_campaign)
);

create table if not exists devices_daily (
    day            date not null,
    device_type    varchar not null,        -- desktop, mobile, tablet, bot, other
    browser_family varchar not null,
    os_family      varchar not null,
    page_views     bigint not null,
    visitors       bigint not null,
    primary key (day, device_type, browser_family, os_family)
);

create table if not exists countries_daily (
    day          date not null,
    country_code varchar not null,          -- ISO 3166-1 alpha-2, or Unknown
    page_views   bigint not null,
    visitors     bigint not null,
    primary key (day, country_code)
);

create table if not exists bots_daily (
    day          date not null,
    crawler_name varchar not null,
    hits         bigint not null,
    bytes        bigint not null,
    primary key (day, crawler_name)
);

-- The hour-level counterpart of daily_traffic (traffic per hour, and the hour x weekday view of
-- the analytics API). A visit belongs to the hour of its first page view.
create table if not exists traffic_hourly (
    day              date not null,
    hour             timestamp primary key,  -- wall-clock hour start in FOOTFALL_TIMEZONE
    hits             bigint not null,
    page_views       bigint not null,
    visitors         bigint not null,        -- distinct visitor_id with a page view in the hour
    visits           bigint not null,        -- visits whose first page view is in the hour
    bounces          bigint not null,
    visit_duration_s double not null         -- total duration of those visits, seconds
);

create table if not exists entry_pages_daily (
    day     date not null,
    path    varchar not null,                -- the first page view of the visit
    entries bigint not null,                 -- visits that began on this page
    bounces bigint not null,                 -- of those, visits of one page view
    primary key (day, path)
);

create table if not exists error_paths_daily (
    day    date not null,
    status smallint not null,                -- 400 and above
    path   varchar not null,                 -- '' for a request line without a path
    hits   bigint not null,                  -- counted hits (crawlers only when counted)
    primary key (day, status, path)
);
