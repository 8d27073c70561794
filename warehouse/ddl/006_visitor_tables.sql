-- Per-day tables of the community and signed-in metrics (docs/analysts/communities.md), rebuilt per
-- affected day like the aggregates of 002_aggregates.sql by transforms/models/sql/<table>.sql.
-- visitor_* and post_views_daily have visitor grain (the views aggregate them at query
-- time, joined with the dimension tables); the others are daily aggregates.

create table if not exists visitor_daily (
    day              date not null,
    visitor_key      bigint not null,      -- user_hash of a signed-in visitor, else the daily session key
    user_hash        bigint,               -- null: anonymous visitor
    first_ts         timestamptz not null, -- first page view of the day
    country_code     varchar,              -- GeoIP of that first page view
    subdivision_code varchar,
    city             varchar,
    page_views       bigint not null
);

create table if not exists visitor_hourly (
    day            date not null,
    hour           timestamp not null,     -- wall-clock hour in FOOTFALL_TIMEZONE
    visitor_key    bigint not null,
    signed_in      boolean not null,       -- the visitor is a user
    community_slug varchar,                -- null: pages outside communities
    page_views     bigint not null
);

create table if not exists post_views_daily (
    day             date not null,
    post_id         varchar not null,
    visitor_key     bigint not null,
    user_hash       bigint,                -- the visitor's user (owner views are excluded by the views)
    signed_in       boolean not null,      -- the visitor is a user
    country_code    varchar,               -- of the page view; 'Unknown' when not located
    device_type     varchar,
    referrer_domain varchar,
    views           bigint not null
);

create table if not exists conversions_daily (
    day                          date primary key,
    sessions_with_anonymous_hits bigint not null,
    conversions                  bigint not null,
    conversion_rate_pct          double,
    avg_seconds_to_conversion    double,
    seconds_to_conversion        double    -- total over the day's conversions (exact sums over ranges)
);

create table if not exists peak_visitors_daily (
    day            date not null,
    community_slug varchar not null,       -- '(all)': the whole site
    peak_visitors  bigint not null,
    window_start   timestamptz not null,   -- earliest page-view time starting a peak window
    primary key (day, community_slug)
);

create table if not exists current_visitors_daily (
    day            date not null,
    community_slug varchar not null,       -- '(all)': the whole site
    window_end     timestamptz not null,   -- the day's last page view
    visitors       bigint not null,
    primary key (day, community_slug)
);
