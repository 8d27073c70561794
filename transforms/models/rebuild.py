"""The aggregate rebuild: every model recomputed for a set of days, on a connection it is handed.

The warehouse (:mod:`warehouse.aggregation`) opens the connection and holds the transaction;
this module decides which days can be rebuilt (a day whose raw events retention purged is
final), cuts them into batches of bounded size and runs the models of
:mod:`transforms.models.catalogue` over each batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Iterable

import duckdb

from transforms.models.catalogue import AGGREGATE_TABLES, ModelParams, aggregate_day, model_params, model_sql, run_model

log = logging.getLogger(__name__)

# Events rebuilt per scan of the Parquet files: bounds the temporary tables of one batch
# (DuckDB spills them to disk beyond warehouse.storage.MEMORY_LIMIT). A day with more events is a batch alone.
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


def _rebuild_batch(
    con: duckdb.DuckDBPyConnection, days: list[dt.date], params: ModelParams, after_model: Callable[[], None] | None
) -> None:
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
        if after_model is not None:
            after_model()
    drop_scoped(con)


def drop_scoped(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what :func:`_rebuild_batch` creates (if it exists): the shadowing macros, then the tables."""
    for macro in ("visitor_hits", "page_views_local", "counted_hits_local", "events_local"):
        con.execute(f"drop macro if exists temp.{macro}")
    for table in ("scoped_visitor_hits", "scoped_counted_hits", "scoped_events"):
        con.execute(f"drop table if exists temp.{table}")


def rebuild_aggregates(
    con: duckdb.DuckDBPyConnection,
    days: Iterable[dt.date],
    params: ModelParams,
    done: Iterable[dt.date] = (),
    after_model: Callable[[], None] | None = None,
) -> int:
    """Recompute every aggregate table for the given days (in ``params.timezone``), in the
    caller's transaction (:func:`warehouse.aggregation.rebuild_aggregates` holds one and calls
    :func:`drop_scoped` after it, also after a rollback).

    Rows of those days are deleted and inserted again from the ``events`` view, so running
    it twice, or after late data for a day, gives the same tables as one clean run. When the
    aggregate tables were recreated (a new definition), every day is rebuilt.

    Days whose raw events retention has purged (:func:`frozen_days`) are skipped, whoever asks
    (a commit with late lines, ``aggregates_pending``, the version migration, ``cli rebuild``):
    their rows are final and recomputing them from what is left would wipe them. The skip is
    logged as a warning, with the late events waiting for the next retention run.

    Args:
        done: UTC partitions these days cover, removed from ``aggregates_pending`` in the
            same transaction (a crash before the commit leaves them there for the next run).
        after_model: called after each model of each batch (the warehouse's fault injection).

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
    for batch in _batches(con, days):
        _rebuild_batch(con, batch, params, after_model)
    con.execute("update warehouse_meta set value = 'false' where key = 'aggregates_stale'")
    con.execute("delete from aggregates_pending where event_date = any(?)", [done])
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
