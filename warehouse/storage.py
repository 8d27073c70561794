"""The DuckDB warehouse: connections, DDL, views over registered Parquet, aggregate rebuilds.

Nothing outside ``warehouse/`` opens the DuckDB file for writing. DuckDB allows one
writing process per file, so the Airflow tasks that open it share the one-slot pool
``footfall_warehouse``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, empty_select

DDL_DIR = Path(__file__).with_name("ddl")
MODELS_DIR = Path(__file__).resolve().parents[1] / "transforms" / "sql"
AGGREGATE_TABLES = ("daily_traffic", "status_daily", "page_daily", "hourly_traffic")
# The day column each aggregate table is keyed on (hourly_traffic is keyed by hour).
_DAY_EXPR = {"daily_traffic": "day", "status_daily": "day", "page_daily": "day", "hourly_traffic": "cast(hour as date)"}


def model_sql(name: str) -> str:
    """The text of ``transforms/sql/<name>.sql``."""
    return (MODELS_DIR / f"{name}.sql").read_text()


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
    for ddl in sorted(DDL_DIR.glob("*.sql")):
        con.execute(ddl.read_text())
    # Views name files by absolute path: rebuilding them here keeps a moved data dir working.
    refresh_views(con, data_dir)
    return con


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refresh_views(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """(Re)create the ``events`` and ``quarantine`` views over the registered Parquet files.

    Only files in ``ingest_files`` are read, so a file written by a run that crashed before
    its commit is never counted. Runs inside the caller's transaction when there is one.
    """
    data_dir = Path(data_dir)
    for kind, schema, partition in (
        ("events", EVENTS_SCHEMA, ("event_date", "date")),
        ("quarantine", QUARANTINE_SCHEMA, ("ingest_date", "date")),
    ):
        rows = con.execute("select path from ingest_files where kind = ? order by path", [kind]).fetchall()
        if rows:
            files = ", ".join(_quote(str(data_dir / r[0])) for r in rows)
            body = f"select * from read_parquet([{files}], hive_partitioning = true, union_by_name = true)"
        else:
            body = empty_select(schema, partition)
        con.execute(f"create or replace view {kind} as {body}")


def rebuild_aggregates(con: duckdb.DuckDBPyConnection, days: Iterable[dt.date]) -> int:
    """Recompute every aggregate table for the given UTC days in one transaction.

    Rows of those days are deleted and inserted again from the ``events`` view, so running
    it twice, or after late data for a day, gives the same tables as one clean run.

    Returns:
        The number of days rebuilt.
    """
    days = sorted(set(days))
    if not days:
        return 0
    params = {
        "days": days,
        "start": dt.datetime.combine(days[0], dt.time(), dt.UTC),
        "end": dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), dt.UTC),
    }
    con.execute("begin transaction")
    try:
        for table in AGGREGATE_TABLES:
            con.execute(f"delete from {table} where {_DAY_EXPR[table]} = any($days)", {"days": days})
            con.execute(f"insert into {table} by name {model_sql(table)}", params)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return len(days)
