-- Materialised aggregates, rebuilt per affected UTC day by transforms/sql/<table>.sql.
-- Definitions of every metric: docs/metrics.md.

create table if not exists daily_traffic (
    day        date primary key,
    hits       bigint not null,
    page_views bigint not null,
    visitors   bigint not null,
    bytes      bigint not null
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
    hour        timestamptz primary key,
    page_views  bigint not null,
    paths       map(varchar, bigint) not null,
    user_agents map(varchar, bigint) not null,
    countries   map(varchar, bigint) not null
);
