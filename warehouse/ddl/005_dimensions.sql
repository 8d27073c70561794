-- Dimension tables, replaced from FOOTFALL_DIMENSIONS_DIR at each aggregation
-- (transforms/models/dimensions.py; columns in docs/analysts/communities.md). User ids are stored as the
-- keyed hash the events use (user_hash), never in clear.

create table if not exists dim_divisions (
    division_id     varchar primary key,
    name            varchar not null,
    type            varchar not null,          -- country, province, city, ...
    parent_id       varchar,
    iso_country     varchar not null,          -- ISO 3166-1 alpha-2
    iso_subdivision varchar,                   -- ISO 3166-2 code without the country prefix
    city_names      varchar                    -- GeoIP English city names, '|'-separated
);

create table if not exists dim_communities (
    community_slug varchar primary key,
    community_id   varchar not null,
    division_id    varchar not null
);

create table if not exists dim_content (
    post_id         varchar primary key,
    kind            varchar,
    owner_user_hash bigint
);

create table if not exists dim_users (
    user_hash        bigint primary key,
    home_division_id varchar
);

-- Every division with itself (depth 0) and each of its ancestors.
create table if not exists dim_division_ancestors (
    division_id varchar not null,
    ancestor_id varchar not null,
    depth       integer not null
);
