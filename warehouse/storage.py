"""The DuckDB warehouse: connections, DDL, views over registered Parquet, aggregate rebuilds.

Nothing outside ``warehouse/`` opens the DuckDB file for writing. DuckDB allows one
writing process per file, so the Airflow tasks that open it share the one-slot pool
``footfall_warehouse``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.failpoints import failpoint
from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, empty_select

DDL_DIR = Path(__file__).with_name("ddl")
VIEWS_DIR = Path(__file__).with_name("views")
MODELS_DIR = Path(__file__).resolve().parents[1] / "transforms" / "sql"
# Rebuild order matters: visits_daily sums traffic_hourly, daily_traffic reads visits_daily, of the same days.
AGGREGATE_TABLES = (
    "traffic_hourly",
    "visits_daily",
    "daily_traffic",
    "status_daily",
    "page_daily",
    "hourly_traffic",
    "referrers_daily",
    "devices_daily",
    "countries_daily",
    "bots_daily",
    "entry_pages_daily",
    "error_paths_daily",  # docs/analysts/metrics.md, read by the analytics API
    # docs/analysts/communities.md
    "visitor_daily",
    "visitor_hourly",
    "post_views_daily",
    "conversions_daily",
    "peak_visitors_daily",
    "current_visitors_daily",
)
# The DDL files that create the tables of AGGREGATE_TABLES (run again by the version migration).
AGGREGATE_DDL = ("002_aggregates.sql", "006_visitor_tables.sql")
# The day (in FOOTFALL_TIMEZONE) a row of an aggregate table belongs to, as SQL over the row:
# its `day` column unless listed. Rebuilds, the version migration and retention all use it.
AGGREGATE_DAY = {"hourly_traffic": "cast(hour as date)"}
# Bump when warehouse/ddl/002_aggregates.sql or a model changes what a table holds: the
# aggregate tables are then recreated on the next write connection and rebuilt from the events
# (the rows of days whose raw events retention purged are carried over, see _migrate_aggregates).
AGGREGATES_VERSION = "4"
_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")

log = logging.getLogger(__name__)


def aggregate_day(table: str) -> str:
    """SQL expression giving the day of a row of aggregate ``table`` (see :data:`AGGREGATE_DAY`)."""
    return AGGREGATE_DAY.get(table, "day")


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
    return con


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
    tables = con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()
    existing = {r[0] for r in tables}
    with transaction(con):
        for table in AGGREGATE_TABLES:
            con.execute(f"drop table if exists {table}__previous")
            if table in existing:
                con.execute(f"alter table {table} rename to {table}__previous")
        for ddl in AGGREGATE_DDL:
            con.execute((DDL_DIR / ddl).read_text())
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


def purged_partitions(con: duckdb.DuckDBPyConnection) -> set[dt.date]:
    """UTC event partitions whose raw events retention has deleted (table ``retention_purged_days``)."""
    return {r[0] for r in con.execute("select event_date from retention_purged_days").fetchall()}


def utc_partitions_of(day: dt.date, timezone: str) -> list[dt.date]:
    """The UTC dates (event partitions) that the day ``day`` in ``timezone`` overlaps: one in UTC,
    two (sometimes one) elsewhere."""
    tz = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    last = (dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz) - dt.timedelta(microseconds=1)).astimezone(
        dt.UTC
    )
    return [start.date() + dt.timedelta(days=k) for k in range((last.date() - start.date()).days + 1)]


def frozen_days(con: duckdb.DuckDBPyConnection, days: Iterable[dt.date], timezone: str) -> set[dt.date]:
    """The days among ``days`` (in ``timezone``) that overlap a purged UTC partition.

    Their raw events are (partly) gone, so their aggregates are final: recomputing them
    would count only what is left, or nothing. :func:`rebuild_aggregates` skips them.
    """
    purged = purged_partitions(con)
    if not purged:
        return set()
    return {d for d in days if not purged.isdisjoint(utc_partitions_of(d, timezone))}


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
# Events rebuilt per scan of the Parquet files: bounds the temporary tables of one batch
# (DuckDB spills them to disk beyond MEMORY_LIMIT). A day with more events is a batch alone.
REBUILD_BATCH_ROWS = 4_000_000
# Columns of events_local that no model reads: left out of the batch's temporary tables, which
# then hold about half the bytes (the raw query and referrer are the widest columns) and are
# built in about half the time. A model that starts reading one of them fails to bind in
# every test of the aggregates: remove it from here then.
_UNREAD_EVENT_COLUMNS = (
    "event_date", "site", "host", "method", "query", "protocol", "request_time", "referrer", "utc_offset_minutes",
    "user_agent_id", "browser_major", "client_ip_hash", "page_type", "source_id", "line_number",
)  # fmt: skip
# The only columns models read through events_local itself, i.e. for every hit, crawlers included (daily_traffic,
# traffic_hourly, status_daily, bots_daily); the other models read page_views_local, counted_hits_local and
# visitor_hits, which only need the hits that count. The page-view rule is not among them:
# daily_traffic counts page views through page_views_local, so the rule's regular expression
# runs on the counted hits only (scoped_events on 2M bench lines: 0.49 -> 0.25 s). A model that
# reads another column through events_local fails to bind in every test of the aggregates: add
# it here then.
_EVERY_HIT_COLUMNS = ("day", "local_ts", "status", "bytes_sent", "is_crawler", "crawler_name")
# Columns of visitor_hits that no model reads (beyond those above).
_UNREAD_VISITOR_HIT_COLUMNS = (
    "status", "bytes_sent", "path", "user_agent", "referrer_class", "utm_source", "utm_medium", "utm_campaign",
    "browser_family", "os_family", "is_crawler", "crawler_name", "visitor_id", "session_hash",
)  # fmt: skip


def _batches(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> list[list[dt.date]]:
    """Consecutive runs of ``days`` (sorted) with at most :data:`REBUILD_BATCH_ROWS` events each.

    The size of a day is the events registered for its UTC partition: in another time zone a
    local day overlaps two partitions, which this estimate is good enough for.
    """
    rows = dict(
        con.execute(
            "select event_date, sum(row_count) from ingest_files where kind = 'events' and event_date = any(?)"
            " group by all",
            [days],
        ).fetchall()
    )
    batches: list[list[dt.date]] = []
    size = 0
    for day in days:
        n = int(rows.get(day) or 0)
        if not batches or size + n > REBUILD_BATCH_ROWS:
            batches.append([])
            size = 0
        batches[-1].append(day)
        size += n
    return batches


def _rebuild_batch(con: duckdb.DuckDBPyConnection, days: list[dt.date], params: ModelParams) -> None:
    """Rebuild every aggregate table for ``days``, reading the Parquet files twice.

    The models read the batch's events (with the time-zone conversion and the page-view rule
    already evaluated) from temporary tables instead of scanning and converting the files once
    each: temporary macros of the same names shadow ``events_local``, ``page_views_local`` and
    ``visitor_hits`` for this connection.

    - ``scoped_events``: every hit, only :data:`_EVERY_HIT_COLUMNS` (``events_local``).
    - ``scoped_counted_hits``: the hits that count (crawlers only when counted: 28 % of the
      hits of the benchmark log), with every column a model reads (``page_views_local``,
      ``counted_hits_local``).
    - ``scoped_visitor_hits``: ``visitor_hits`` (the per-session first-user join) evaluated
      once over the counted hits, instead of once per community model.

    Two narrow tables instead of one table of every column for every hit: on 2M lines
    that one (~550 MB) outgrew :data:`MEMORY_LIMIT` and spilled to disk while it was built,
    and took more CPU to fill than the second scan of the files costs.
    """
    values = model_params(days, params)
    # events_local reads the UTC partitions next to the days too (a local day overlaps two),
    # and its day filter cannot use the Parquet statistics. A range on ts can: row groups
    # wholly outside the batch's days are skipped instead of read and filtered, which matters
    # for small batches. The hour of margin only guards against odd time-zone transitions;
    # the day filter decides.
    zone = zoneinfo.ZoneInfo(params.timezone)
    margin = dt.timedelta(hours=1)
    scan = {
        "scan_start": dt.datetime.combine(days[0], dt.time(), zone).astimezone(dt.UTC) - margin,
        "scan_end": dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC) + margin,
    }
    in_scan = "ts >= $scan_start and ts < $scan_end"
    # Both tables are read from the Parquet files, before any shadowing macro exists.
    run_model(
        con,
        f"create or replace temp table scoped_events as select {', '.join(_EVERY_HIT_COLUMNS)}"
        f" from events_local($days, $tz) where {in_scan}",
        values | scan,
    )
    run_model(
        con,
        f"create or replace temp table scoped_counted_hits as select * exclude ({', '.join(_UNREAD_EVENT_COLUMNS)})"
        f" from events_local($days, $tz) where {in_scan} and ($include_crawlers or not coalesce(is_crawler, false))",
        values | scan,
    )
    # visitor_hits reads events_local and keeps the hits that count: the counted hits are all it needs.
    con.execute(
        "create or replace temp macro events_local(days, tz) as table "
        "select * from temp.scoped_counted_hits where day = any(days)"
    )
    run_model(
        con,
        "create or replace temp table scoped_visitor_hits as "
        f"select * exclude ({', '.join(_UNREAD_VISITOR_HIT_COLUMNS)}) from visitor_hits($days, $tz, $include_crawlers)",
        values,
    )
    con.execute(
        "create or replace temp macro visitor_hits(days, tz, include_crawlers) as table "
        "select * from temp.scoped_visitor_hits where day = any(days)"
    )
    for macro, rule in (("page_views_local", "is_page_view and "), ("counted_hits_local", "")):
        con.execute(
            f"create or replace temp macro {macro}(days, tz, include_crawlers) as table "
            f"select * from temp.scoped_counted_hits where {rule}day = any(days)"
        )
    con.execute(
        "create or replace temp macro events_local(days, tz) as table "
        "select * from temp.scoped_events where day = any(days)"
    )
    for table in AGGREGATE_TABLES:
        con.execute(f"delete from {table} where {aggregate_day(table)} = any($days)", {"days": days})
        run_model(con, f"insert into {table} by name {model_sql(table)}", values)
        failpoint("aggregate.mid_rebuild")
    _drop_scoped(con)


def _drop_scoped(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what :func:`_rebuild_batch` creates (if it exists): the shadowing macros, then the tables."""
    for macro in ("visitor_hits", "page_views_local", "counted_hits_local", "events_local"):
        con.execute(f"drop macro if exists temp.{macro}")
    for table in ("scoped_visitor_hits", "scoped_counted_hits", "scoped_events"):
        con.execute(f"drop table if exists temp.{table}")


def rebuild_aggregates(
    con: duckdb.DuckDBPyConnection, days: Iterable[dt.date], params: ModelParams, done: Iterable[dt.date] = ()
) -> int:
    """Recompute every aggregate table for the given days (in ``params.timezone``) in one transaction.

    Rows of those days are deleted and inserted again from the ``events`` view, so running
    it twice, or after late data for a day, gives the same tables as one clean run. When the
    aggregate tables were recreated (new :data:`AGGREGATES_VERSION`), every day is rebuilt.

    Days whose raw events retention has purged (:func:`frozen_days`) are skipped, whoever asks
    (a commit with late lines, ``aggregates_pending``, the version migration, ``cli rebuild``):
    their rows are final and recomputing them from what is left would wipe them. The skip is
    logged as a warning, with the late events waiting for the next retention run.

    Args:
        done: UTC partitions these days cover, removed from ``aggregates_pending`` in the
            same transaction (a crash before the commit leaves them there for the next run).

    Returns:
        The number of days rebuilt (skipped days not counted).
    """
    days = set(days) | set(stale_days(con, params))
    done = sorted(set(done))
    frozen = frozen_days(con, days, params.timezone)
    if frozen:
        _warn_frozen(con, sorted(frozen), params.timezone)
    days = sorted(days - frozen)
    stale = con.execute("select value from warehouse_meta where key = 'aggregates_stale'").fetchone() == ("true",)
    if not days and not done and not stale:
        return 0
    try:
        with transaction(con):
            for batch in _batches(con, days):
                _rebuild_batch(con, batch, params)
            con.execute("update warehouse_meta set value = 'false' where key = 'aggregates_stale'")
            con.execute("delete from aggregates_pending where event_date = any(?)", [done])
    finally:
        _drop_scoped(con)
    return len(days)


def _warn_frozen(con: duckdb.DuckDBPyConnection, days: list[dt.date], timezone: str) -> None:
    partitions = sorted(purged_partitions(con) & {p for d in days for p in utc_partitions_of(d, timezone)})
    (late,) = con.execute(
        "select coalesce(sum(row_count), 0) from ingest_files where kind = 'events' and event_date = any(?)",
        [partitions],
    ).fetchone()
    shown = ", ".join(d.isoformat() for d in days[:10]) + (f" and {len(days) - 10} more" if len(days) > 10 else "")
    log.warning(
        "not rebuilding %d day(s) whose raw events retention purged (%s): their aggregates stay as they were; "
        "%d late event(s) committed since for those partitions are not counted and go with the next retention run",
        len(days), shown, late,
    )  # fmt: skip
