-- Published snapshots (warehouse/snapshot.py, docs/analysts/snapshots.md): the generations still on disk
-- and the Parquet files each one's views read. A generation is deleted once no reader can be
-- using it; an unregistered Parquet file is deleted once no generation here reads it.

create table if not exists snapshot_generations (
    generation          bigint primary key,
    file                varchar not null,      -- relative to the data dir: snapshots/analytics-NNNNNN.duckdb
    published_at        timestamptz not null,
    superseded_at       timestamptz,           -- when the next generation became current; null: current
    data_as_of          timestamptz,           -- the newest event it holds
    ingest_run_id       varchar,               -- the newest ingest run that had committed
    definitions_version varchar not null       -- digest of the SQL that defines the metrics
);

create table if not exists snapshot_files (
    generation bigint not null,
    path       varchar not null,               -- Parquet file, relative to the data dir
    primary key (generation, path)
);
