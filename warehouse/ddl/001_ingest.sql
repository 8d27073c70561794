-- Ingestion state: which bytes of which source have been committed, and the files that
-- hold them. Analysts read the `events` and `quarantine` views built from ingest_files.

create table if not exists ingest_sources (
    source_id        varchar primary key,   -- sha256 (hex, 16 chars) of the first bytes of the decompressed content
    path             varchar not null,      -- last path the source was read from
    fingerprint_len  integer not null,      -- how many leading bytes fingerprint covers (up to 1024)
    compressed       boolean not null,
    file_size        bigint not null,       -- on-disk size when last read (a .gz of this size is not read again)
    committed_offset bigint not null,       -- bytes of decompressed content committed
    committed_lines  bigint not null,       -- lines committed (parsed + quarantined)
    first_ingested_at timestamptz not null,
    last_ingested_at  timestamptz not null
);

-- Added after the first release: the fingerprint grows with a file first read under 1 KiB,
-- so that it is still recognised after rotation (source_id stays its first fingerprint).
alter table ingest_sources add column if not exists fingerprint varchar;

create table if not exists ingest_files (
    path        varchar primary key,        -- Parquet file, relative to the data dir
    kind        varchar not null,           -- 'events' or 'quarantine'
    source_id   varchar not null,
    event_date  date,                       -- UTC partition (events only)
    row_count   bigint not null,
    run_id      varchar not null,
    committed_at timestamptz not null
);

-- One row per source and ingest run: what was read and what happened to it.
create table if not exists data_quality (
    run_id            varchar not null,
    source_id         varchar not null,
    source_path       varchar not null,
    start_offset      bigint not null,
    end_offset        bigint not null,
    lines_read        bigint not null,
    lines_parsed      bigint not null,
    lines_quarantined bigint not null,
    quarantine_reasons map(varchar, bigint) not null,
    committed_at      timestamptz not null,
    primary key (run_id, source_id)
);

-- Added after the first release: true when the read was rejected because more than
-- FOOTFALL_MAX_REJECT_RATE of its lines were quarantined. A rejected read committed only its
-- quarantined lines (ingest_files kind 'rejected', view rejected_lines): the same bytes are
-- read again by a later run, so sum data_quality counts over `not rejected` only.
alter table data_quality add column if not exists rejected boolean default false;

-- One row per ingest run that committed (with or without new lines): how far ingestion has
-- got. The report DAG waits until a run whose data interval ends at or after its own is here.
create table if not exists ingest_runs (
    run_id            varchar primary key,
    data_interval_end timestamptz,
    sources           integer not null,
    lines_read        bigint not null,
    committed_at      timestamptz not null
);

-- Versions of derived structures (key -> value), e.g. the aggregate tables' definition.
create table if not exists warehouse_meta (
    key   varchar primary key,
    value varchar not null
);

-- Added with site labels (FOOTFALL_LOG_SOURCES): the site of the glob that last matched the
-- source; its lines' events carry it in their `site` column. NULL for rows committed before.
alter table ingest_sources add column if not exists site varchar;
