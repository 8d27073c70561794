"""The DuckDB warehouse: connections, DDL, views over registered Parquet, aggregate rebuilds.

Nothing outside ``warehouse/`` opens the DuckDB file for writing. DuckDB allows one
writing process per file, so the Airflow tasks that open it share the one-slot pool
``footfall_warehouse``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.failpoints import failpoint
from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, empty_select

DDL_DIR = Path(__file__).with_name("ddl")
VIEWS_DIR = Path(__file__).with_name("views")
MODELS_DIR = Path(__file__).resolve().parents[1] / "transforms" / "sql"
# Rebuild order matters: daily_traffic reads visits_daily of the same days.
AGGREGATE_TABLES = (
    "visits_daily",
    "daily_traffic",
    "status_daily",
    "page_daily",
    "hourly_traffic",
    "referrers_daily",
    "devices_daily",
    "countries_daily",
    "bots_daily",
    # docs/communities.md
    "visitor_daily",
    "visitor_hourly",
    "post_views_daily",
    "conversions_daily",
    "peak_visitors_daily",
    "current_visitors_daily",
)
# Bump when warehouse/ddl/002_aggregates.sql or a model changes what a table holds: the
# aggregate tables are then dropped and rebuilt from the events on the next write connection.
AGGREGATES_VERSION = "3"
_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class ModelParams:
    """How the aggregate models count (from Settings).

    Attributes:
        timezone: IANA name; days and hours are wall-clock in this zone (FOOTFALL_TIMEZONE).
        include_crawlers: count crawlers in page views, visitors and visits (FOOTFALL_COUNT_CRAWLERS).
        session_gap_s: a visit ends after this many seconds without a page view.
    """

    timezone: str = "UTC"
    include_crawlers: bool = False
    session_gap_s: int = 1800


def model_sql(name: str) -> str:
    """The text of ``transforms/sql/<name>.sql``."""
    return (MODELS_DIR / f"{name}.sql").read_text()


def run_model(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object]) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` binding only the ``$name`` parameters it uses (DuckDB refuses extras)."""
    used = set(_PARAM_RE.findall(sql))
    return con.execute(sql, {k: v for k, v in params.items() if k in used})


def model_params(days: list[dt.date], params: ModelParams) -> dict[str, object]:
    """Named parameters for the models over ``days``."""
    return {
        "days": days,
        "tz": params.timezone,
        "include_crawlers": params.include_crawlers,
        "session_gap_s": params.session_gap_s,
        # hourly_traffic also filters on a time range: whole days here (±1 day covers any offset).
        "start": dt.datetime.combine(days[0] - dt.timedelta(days=1), dt.time(), dt.UTC),
        "end": dt.datetime.combine(days[-1] + dt.timedelta(days=2), dt.time(), dt.UTC),
    }


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
    _migrate_aggregates(con)
    for ddl in sorted(DDL_DIR.glob("*.sql")):
        con.execute(ddl.read_text())
    # Views name files by absolute path: rebuilding them here keeps a moved data dir working.
    refresh_views(con, data_dir)
    return con


def _migrate_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the aggregate tables when their definition changed; they are rebuilt from events."""
    con.execute("create table if not exists warehouse_meta (key varchar primary key, value varchar not null)")
    row = con.execute("select value from warehouse_meta where key = 'aggregates_version'").fetchone()
    if row and row[0] == AGGREGATES_VERSION:
        return
    for table in AGGREGATE_TABLES:
        con.execute(f"drop table if exists {table}")
    con.execute(
        "insert or replace into warehouse_meta values ('aggregates_version', ?), ('aggregates_stale', 'true')",
        [AGGREGATES_VERSION],
    )


def stale_days(con: duckdb.DuckDBPyConnection, params: ModelParams) -> list[dt.date]:
    """Every day with events when the aggregate tables were just recreated, else nothing."""
    row = con.execute("select value from warehouse_meta where key = 'aggregates_stale'").fetchone()
    if not row or row[0] != "true":
        return []
    return [
        r[0]
        for r in con.execute(
            "select distinct cast(timezone(?, ts) as date) from events order by 1", [params.timezone]
        ).fetchall()
    ]


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


# DuckDB's working memory per write connection (aggregate rebuilds).
MEMORY_LIMIT = "512MB"
# Days rebuilt per scan of the events: bounds the temporary table of one batch.
REBUILD_BATCH_DAYS = 7


def _rebuild_batch(con: duckdb.DuckDBPyConnection, days: list[dt.date], params: ModelParams) -> None:
    """Rebuild every aggregate table for ``days``, reading the Parquet files once.

    The batch's events (with the time-zone conversion and the page-view rule already
    evaluated) go into a temporary table, and a temporary macro of the same name shadows
    ``events_local`` for this connection, so the nine models read that table instead of
    scanning and converting the files nine times.
    """
    values = model_params(days, params)
    run_model(con, "create or replace temp table scoped_events as select * from events_local($days, $tz)", values)
    con.execute(
        "create or replace temp macro events_local(days, tz) as table "
        "select * from temp.scoped_events where day = any(days)"
    )
    for table in AGGREGATE_TABLES:
        key = "cast(hour as date)" if table == "hourly_traffic" else "day"
        con.execute(f"delete from {table} where {key} = any($days)", {"days": days})
        run_model(con, f"insert into {table} by name {model_sql(table)}", values)
        failpoint("aggregate.mid_rebuild")
    con.execute("drop macro temp.events_local")


def rebuild_aggregates(
    con: duckdb.DuckDBPyConnection, days: Iterable[dt.date], params: ModelParams, done: Iterable[dt.date] = ()
) -> int:
    """Recompute every aggregate table for the given days (in ``params.timezone``) in one transaction.

    Rows of those days are deleted and inserted again from the ``events`` view, so running
    it twice, or after late data for a day, gives the same tables as one clean run. When the
    aggregate tables were recreated (new :data:`AGGREGATES_VERSION`), every day is rebuilt.

    Args:
        done: UTC partitions these days cover, removed from ``aggregates_pending`` in the
            same transaction (a crash before the commit leaves them there for the next run).

    Returns:
        The number of days rebuilt.
    """
    days = sorted(set(days) | set(stale_days(con, params)))
    if not days:
        return 0
    con.execute("begin transaction")
    try:
        for first in range(0, len(days), REBUILD_BATCH_DAYS):
            _rebuild_batch(con, days[first : first + REBUILD_BATCH_DAYS], params)
        con.execute("update warehouse_meta set value = 'false' where key = 'aggregates_stale'")
        con.execute("delete from aggregates_pending where event_date = any(?)", [sorted(set(done))])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop macro if exists temp.events_local")
        con.execute("drop table if exists temp.scoped_events")
    return len(days)
