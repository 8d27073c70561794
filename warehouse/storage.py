"""The DuckDB warehouse: connections, transactions, DDL, views over registered Parquet.

Nothing outside ``warehouse/`` opens the DuckDB file. DuckDB allows one writing process per
file, so the Airflow tasks that open it share the one-slot pool ``footfall_warehouse``. The
aggregate models and their rebuild live in :mod:`transforms.models`, handed a connection
opened here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from transforms.models.catalogue import AGGREGATE_TABLES, MODELS, ModelParams, aggregate_day, table_ddl
from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, empty_select

DDL_DIR = Path(__file__).with_name("ddl")
VIEWS_DIR = Path(__file__).with_name("views")
# The DDL files that create the tables of AGGREGATE_TABLES (run again by the version migration);
# the other aggregate tables are created from their models (transforms.models.catalogue.table_ddl).
AGGREGATE_DDL = tuple(sorted({m.ddl for m in MODELS if m.ddl}))
# Bump when warehouse/ddl/002_aggregates.sql or a model changes what a table holds: the
# aggregate tables are then recreated on the next write connection and rebuilt from the events
# (the rows of days whose raw events retention purged are carried over, see _migrate_aggregates).
AGGREGATES_VERSION = "4"

log = logging.getLogger(__name__)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``begin``, then ``commit`` when the block ends, ``rollback`` when it raises (any
    exception, KeyboardInterrupt included, so a killed task leaves nothing half-written)."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def connect(data_dir: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open ``data_dir/warehouse.duckdb``, creating tables, macros and views if needed.

    Sessions use UTC, so ``date_trunc`` and casts of ``timestamptz`` give UTC hours and days.

    Args:
        data_dir: the data dir; the file is created when missing (not with ``read_only``).
        read_only: open without taking the write lock. DuckDB still refuses a read-only
            open while another process has the file open for writing, and vice versa.

    Raises:
        FileNotFoundError: ``read_only`` and there is no warehouse yet.
        duckdb.IOException: the file is locked by another process (tasks that open it
            share the ``footfall_warehouse`` pool to prevent this).
    """
    data_dir = Path(data_dir)
    if read_only:
        if not (data_dir / "warehouse.duckdb").exists():
            raise FileNotFoundError(f"no warehouse at {data_dir / 'warehouse.duckdb'}: run the ingest DAG first")
        con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        con.execute("set TimeZone = 'UTC'")
        return con
    data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    # Bounded memory whatever the data size: DuckDB spills to <warehouse>.duckdb.tmp/ beyond this.
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
    for ddl in sorted(DDL_DIR.glob("*.sql")):
        con.execute(ddl.read_text())
    _migrate_aggregates(con)
    # Views name files by absolute path: rebuilding them keeps a moved data dir working, and
    # picks up new view definitions. Only then: binding the views reads the footer of every
    # registered file (~0.2 s at a few hundred files, growing with the warehouse), and commit
    # and retention rebuild them whenever they change the files.
    stored = con.execute("select value from warehouse_meta where key = 'views_fingerprint'").fetchone()
    if stored is None or stored[0] != _views_fingerprint(con, data_dir):
        refresh_views(con, data_dir)
    _create_model_tables(con)
    return con


def _existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}


def _create_model_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the aggregate tables of models without a DDL file that do not exist yet (a model
    added since the warehouse was built); every day with events is then rebuilt for them."""
    missing = [m for m in MODELS if m.ddl is None and m.name not in _existing_tables(con)]
    if not missing:
        return
    with transaction(con):
        for model in missing:
            con.execute(table_ddl(con, model, ModelParams()))
        con.execute("insert or replace into warehouse_meta values ('aggregates_stale', 'true')")


def _migrate_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """Recreate the aggregate tables when their definition changed; they are rebuilt from events.

    Rows of days whose raw events retention has purged cannot be rebuilt, so they are carried
    over into the new tables (the columns both definitions have) instead of being dropped with
    the rest. Without knowing the time zone here, every day next to a purged UTC partition
    is kept; the rebuild that follows replaces the rows of those it can still recompute.
    One transaction: a crash leaves the old tables and the old version.

    Raises:
        RuntimeError: the new definition has a NOT NULL column that the carried-over rows
            have no value for; give it a default in its file of :data:`AGGREGATE_DDL`.
    """
    row = con.execute("select value from warehouse_meta where key = 'aggregates_version'").fetchone()
    if row and row[0] == AGGREGATES_VERSION:
        return
    existing = _existing_tables(con)
    with transaction(con):
        for table in AGGREGATE_TABLES:
            con.execute(f"drop table if exists {table}__previous")
            if table in existing:
                con.execute(f"alter table {table} rename to {table}__previous")
        for ddl in AGGREGATE_DDL:
            con.execute((DDL_DIR / ddl).read_text())
        # The other tables of models: from their queries (the events view exists once tables do).
        for model in MODELS:
            if model.ddl is None and model.name in existing:
                con.execute(table_ddl(con, model, ModelParams()))
        for table in AGGREGATE_TABLES:
            if table in existing:
                _carry_over_purged_days(con, table)
                con.execute(f"drop table {table}__previous")
        con.execute(
            "insert or replace into warehouse_meta values ('aggregates_version', ?), ('aggregates_stale', 'true')",
            [AGGREGATES_VERSION],
        )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'main' and table_name = ?"
            " order by column_index",
            [table],
        ).fetchall()
    ]


def _carry_over_purged_days(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Copy the rows of days next to a purged partition from ``<table>__previous`` into ``table``."""
    old = set(_columns(con, f"{table}__previous"))
    common = ", ".join(c for c in _columns(con, table) if c in old)
    day = aggregate_day(table)
    try:
        con.execute(
            f"insert into {table} ({common}) select {common} from {table}__previous "
            f"where {day} in (select event_date + cast(k as integer) from retention_purged_days, range(-1, 2) as t(k))"
        )
    except duckdb.ConstraintException as exc:
        raise RuntimeError(
            f"AGGREGATES_VERSION {AGGREGATES_VERSION}: the rows of {table} for days whose raw events retention "
            f"purged cannot be recomputed and are carried over, but the new definition needs a value they lack "
            f"({exc}). Give the new column a default in its DDL file ({', '.join(AGGREGATE_DDL)})."
        ) from exc


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refresh_views(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """(Re)create the ``events``, ``quarantine`` and ``rejected_lines`` views over the
    registered Parquet files (``ingest_files`` kinds ``events``, ``quarantine``, ``rejected``).

    Only files in ``ingest_files`` are read, so a file written by a run that crashed before
    its commit is never counted. Runs inside the caller's transaction when there is one.
    """
    data_dir = Path(data_dir)
    for view, kind, schema, partition in (
        ("events", "events", EVENTS_SCHEMA, ("event_date", "date")),
        ("quarantine", "quarantine", QUARANTINE_SCHEMA, ("ingest_date", "date")),
        # Quarantined lines of reads rejected for their reject rate: evidence, not counted.
        ("rejected_lines", "rejected", QUARANTINE_SCHEMA, ("ingest_date", "date")),
    ):
        rows = con.execute("select path from ingest_files where kind = ? order by path", [kind]).fetchall()
        if rows:
            files = ", ".join(_quote(str(data_dir / r[0])) for r in rows)
            body = f"select * from read_parquet([{files}], hive_partitioning = true, union_by_name = true)"
        else:
            body = empty_select(schema, partition)
        con.execute(f"create or replace view {view} as {body}")
    for view in sorted(VIEWS_DIR.glob("*.sql")):
        con.execute(view.read_text())
    con.execute(
        "insert or replace into warehouse_meta values ('views_fingerprint', ?)", [_views_fingerprint(con, data_dir)]
    )


def _views_fingerprint(con: duckdb.DuckDBPyConnection, data_dir: Path) -> str:
    """SHA-256 hex of what :func:`refresh_views` builds from: the data dir, the registered
    files and their kinds, the view definitions and the Parquet schemas."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode())
    for path, kind in con.execute("select path, kind from ingest_files order by path").fetchall():
        digest.update(f"\0{kind}\0{path}".encode())
    for view in sorted(VIEWS_DIR.glob("*.sql")):
        digest.update(view.name.encode() + b"\0" + view.read_bytes())
    digest.update(str(EVENTS_SCHEMA).encode() + str(QUARANTINE_SCHEMA).encode())
    return digest.hexdigest()


# DuckDB's working memory per write connection (aggregate rebuilds). DuckDB's resident memory
# goes past it by ~1/3 (allocations outside its buffer manager): rebuilding the 20M-line
# benchmark's 37 days peaked at 844 MiB with 512MB and 718 MiB with 384MB, in the same time
# (29-30 s; 2M lines: 1.97-2.00 s against 2.37 s).
MEMORY_LIMIT = "384MB"
