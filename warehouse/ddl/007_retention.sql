-- Retention (warehouse/retention.py, docs/operators/operations.md#retention): what has been deleted,
-- and the monthly rollups that outlive the daily aggregates. Never dropped or rebuilt.

-- UTC event partitions whose raw events were deleted. Written in the transaction that
-- unregisters their files; from then on no rebuild recomputes the days they overlap.
create table if not exists retention_purged_days (
    event_date      date primary key,
    first_purged_at timestamptz not null,   -- retention clock (the DAG run's data interval end)
    last_purged_at  timestamptz not null,
    files           bigint not null,        -- Parquet files deleted, all purges together
    rows            bigint not null,        -- events deleted, all purges together
    late_rows       bigint not null         -- of those, events committed after the first purge (never aggregated)
);

-- Files unregistered by a committed purge (or replaced by a re-read of a truncated source) and
-- not yet deleted from disk. Emptied after the commit, except files that a published snapshot
-- still on disk reads (warehouse/snapshot.py): those wait for it to go.
create table if not exists retention_unlink_queue (
    path      varchar primary key,          -- relative to the data dir
    queued_at timestamptz not null
);

-- Days (FOOTFALL_TIMEZONE) whose daily aggregate rows were added to the monthly tables, in
-- the same transaction: a day is rolled up exactly once, however often retention runs.
create table if not exists rollup_days (
    day          date primary key,
    rolled_up_at timestamptz not null       -- retention clock
);

-- Monthly rollups, kept forever. `month` is the first day of the month (FOOTFALL_TIMEZONE).
-- Every column is a sum over the days rolled up (`days` of them). Unique visitors do not add
-- up across days (visitor ids change daily), so they are kept as `visitor_days`: the sum of
-- daily unique visitors, not the number of people.

create table if not exists traffic_monthly (      -- from daily_traffic
    month        date primary key,
    days         bigint not null,
    hits         bigint not null,
    page_views   bigint not null,
    visitor_days bigint not null,
    bytes        bigint not null,
    visits       bigint not null
);

create table if not exists visits_monthly (       -- from visits_daily
    month            date primary key,
    days             bigint not null,
    visits           bigint not null,
    bounces          bigint not null,
    visit_duration_s double not null        -- sum over days of avg_visit_duration_s * visits (s)
);

create table if not exists status_monthly (       -- from status_daily
    month  date not null,
    status smallint not null,
    days   bigint not null,
    hits   bigint not null,
    primary key (month, status)
);

create table if not exists page_monthly (         -- from page_daily
    month        date not null,
    path         varchar not null,
    days         bigint not null,
    page_views   bigint not null,
    visitor_days bigint not null,
    primary key (month, path)
);

create table if not exists referrers_monthly (    -- from referrers_daily
    month           date not null,
    referrer_class  varchar not null,
    referrer_domain varchar not null,
    utm_source      varchar not null,
    utm_medium      varchar not null,
    utm_campaign    varchar not null,
    days            bigint not null,
    page_views      bigint not null,
    visitor_days    bigint not null,
    primary key (month, referrer_class, referrer_domain, utm_source, utm_medium, utm_campaign)
);

create table if not exists devices_monthly (      -- from devices_daily
    month          date not null,
    device_type    varchar not null,
    browser_family varchar not null,
    os_family      varchar not null,
    days           bigint not null,
    page_views     bigint not null,
    visitor_days   bigint not null,
    primary key (month, device_type, browser_family, os_family)
);

create table if not exists countries_monthly (    -- from countries_daily
    month        date not null,
    country_code varchar not null,
    days         bigint not null,
    page_views   bigint not null,
    visitor_days bigint not null,
    primary key (month, country_code)
);

create table if not exists bots_monthly (         -- from bots_daily
    month        date not null,
    crawler_name varchar not null,
    days         bigint not null,
    hits         bigint not null,
    bytes        bigint not null,
    primary key (month, crawler_name)
);

create table if not exists conversions_monthly (  -- from conversions_daily
    month                        date primary key,
    days                         bigint not null,
    sessions_with_anonymous_hits bigint not null,
    conversions                  bigint not null,
    conversion_seconds           double not null   -- sum of seconds to conversion (average x conversions)
);

create table if not exists entry_pages_monthly (  -- from entry_pages_daily
    month   date not null,
    path    varchar not null,
    days    bigint not null,
    entries bigint not null,
    bounces bigint not null,
    primary key (month, path)
);

create table if not exists error_paths_monthly (  -- from error_paths_daily
    month  date not null,
    status smallint not null,
    path   varchar not null,
    days   bigint not null,
    hits   bigint not null,
    primary key (month, status, path)
);
