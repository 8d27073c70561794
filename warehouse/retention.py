"""Retention: delete what the product's policy says to delete, keep monthly rollups forever.

What is kept how long (``FOOTFALL_RETENTION_*``, :class:`warehouse.settings.Settings`):

=====================  ===========================================  ==========  ==============
category               what                                         default     keyed on
=====================  ===========================================  ==========  ==============
raw events             ``events`` Parquet partitions                7 days      UTC ``event_date``
quarantine             ``quarantine`` and ``rejected`` Parquet      7 days      UTC ``ingest_date``
daily aggregates       every table ``rebuild_aggregates`` fills     forever     local ``day``
                       (:func:`daily_aggregate_tables`)            (or N days)
visit/visitor tables   :data:`VISITOR_TABLES`                       90 days     local day column
monthly rollups        :data:`ROLLUPS` (``*_monthly``)              forever
=====================  ===========================================  ==========  ==============

Daily aggregates hold no personal data, so by default (``FOOTFALL_RETENTION_AGGREGATES_DAYS``
unset) they are kept forever and nothing is rolled up; set it to roll them up into the monthly
tables and delete them after that many days.

A day is deleted once it *ended* more than N days before the clock: with N = 7 and the clock
at 2025-03-10T00:00Z, the UTC day 2025-03-02 goes and 2025-03-03 stays. The clock is always
passed in (the retention DAG run's data interval end), never read here, so tests and
backfills control it. Only :func:`sweep_orphans` looks at real time, see there.

The steps, each one idempotent and each write one DuckDB transaction, run in this order
(``dags/footfall_retention.py``, ``python -m warehouse.cli retention``):

1. :func:`rebuild_pending`: rebuild the aggregates of committed but not yet rebuilt days
   (``aggregates_pending``, or every day after an ``AGGREGATES_VERSION`` change).
2. :func:`purge_raw`: unregister expired event and quarantine files and record the purged
   partitions (``retention_purged_days``) in one transaction, refresh the views, then delete
   the files. From then on :func:`warehouse.storage.rebuild_aggregates` skips every day those
   partitions overlap: the safety rule that keeps aggregates from being recomputed, and wiped,
   from raw data that is gone. A partition whose days' aggregates were not rebuilt from its
   final events (:func:`blocked_partitions`) is kept until they are.
3. :func:`roll_up`: add the daily rows of expired days whose raw events are gone (so they can
   no longer change) to the monthly tables, and record the days in ``rollup_days``, in one
   transaction: each day is added exactly once. Nothing when aggregates are kept forever.
4. :func:`purge_aggregates`: delete the daily rows of rolled-up expired days (none when they are
   kept forever), and the rows of the visitor tables past their own period.
5. :func:`sweep_orphans`: delete Parquet files no ``ingest_files`` row references (left by a
   killed ingest or purge) once they are an hour old, and staging dirs a day old.

:mod:`warehouse.retention_plan` says what a run would do without changing anything (``cli
retention --dry-run``, and the DAG's first task).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass

import duckdb

from warehouse import storage
from warehouse.failpoints import failpoint
from warehouse.orphans import sweep_orphans, unlink_queued
from warehouse.settings import Settings

log = logging.getLogger(__name__)

# Per-day tables at visit or visitor grain, kept FOOTFALL_RETENTION_VISITORS_DAYS and not rolled
# up: (table, SQL expression of a row's day in FOOTFALL_TIMEZONE). A table listed here is taken
# out of the daily aggregates category even when rebuild_aggregates fills it.
VISITOR_TABLES: tuple[tuple[str, str], ...] = (
    # docs/communities.md: visitor grain, aggregated at query time by the community views.
    ("visitor_daily", "day"),
    ("visitor_hourly", "day"),
    ("post_views_daily", "day"),
)


@dataclass(frozen=True)
class Rollup:
    """How one daily aggregate table rolls up into its monthly table.

    Attributes:
        daily: the daily table (key ``day``).
        monthly: the monthly table (key ``month``, the first day of the month, then ``keys``).
        keys: the grouping columns both tables share, besides the day or month.
        measures: ``(monthly column, SQL expression over a daily row)``; each is summed over the
            days rolled up, so only additive quantities belong here. A daily unique count
            (``visitors``) is summed into a column named for what the sum is (``visitor_days``),
            and a daily average is multiplied back into a total first.
    """

    daily: str
    monthly: str
    keys: tuple[str, ...]
    measures: tuple[tuple[str, str], ...]


_DAYS = ("days", "1")
ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "daily_traffic",
        "traffic_monthly",
        (),
        (
            _DAYS,
            ("hits", "hits"),
            ("page_views", "page_views"),
            ("visitor_days", "visitors"),
            ("bytes", "bytes"),
            ("visits", "visits"),
        ),
    ),
    Rollup(
        "visits_daily",
        "visits_monthly",
        (),
        # avg_visit_duration_s is rounded to 0.1 s per day: the total is exact to 0.05 s per visit.
        (_DAYS, ("visits", "visits"), ("bounces", "bounces"), ("visit_duration_s", "avg_visit_duration_s * visits")),
    ),
    Rollup("status_daily", "status_monthly", ("status",), (_DAYS, ("hits", "hits"))),
    Rollup(
        "page_daily", "page_monthly", ("path",), (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors"))
    ),
    Rollup(
        "referrers_daily",
        "referrers_monthly",
        ("referrer_class", "referrer_domain", "utm_source", "utm_medium", "utm_campaign"),
        (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors")),
    ),
    Rollup(
        "devices_daily",
        "devices_monthly",
        ("device_type", "browser_family", "os_family"),
        (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors")),
    ),
    Rollup(
        "countries_daily",
        "countries_monthly",
        ("country_code",),
        (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors")),
    ),
    Rollup("bots_daily", "bots_monthly", ("crawler_name",), (_DAYS, ("hits", "hits"), ("bytes", "bytes"))),
    Rollup(
        "conversions_daily",
        "conversions_monthly",
        (),
        (
            _DAYS,
            ("sessions_with_anonymous_hits", "sessions_with_anonymous_hits"),
            ("conversions", "conversions"),
            # The daily average is rounded to 0.1 s: the total is exact to 0.05 s per conversion.
            ("conversion_seconds", "coalesce(avg_seconds_to_conversion * conversions, 0)"),
        ),
    ),
)
# Daily aggregate tables deleted after FOOTFALL_RETENTION_AGGREGATES_DAYS without a rollup, and why.
NOT_ROLLED_UP = {
    "hourly_traffic": "hour-level detail; its page views, paths, user agents (as devices) and countries "
    "are in the monthly rollups of the daily tables",
    "peak_visitors_daily": "a peak is a maximum over 5-minute windows, not a sum; peak_visitors(grain) "
    "answers weeks and months while the daily rows are kept",
    "current_visitors_daily": "the last 5 minutes of a day matter only for the newest day",
}


def daily_aggregate_tables() -> list[str]:
    """The tables kept FOOTFALL_RETENTION_AGGREGATES_DAYS: every table ``rebuild_aggregates``
    fills (:data:`warehouse.storage.AGGREGATE_TABLES`) that is not a visitor table."""
    visitor = {table for table, _ in VISITOR_TABLES}
    return [t for t in storage.AGGREGATE_TABLES if t not in visitor]


@dataclass(frozen=True)
class Cutoffs:
    """The first day kept in each category at one clock time; everything before it goes.

    ``events`` and ``quarantine`` are UTC dates (the partitions are UTC); ``aggregates`` and
    ``visitors`` are dates in FOOTFALL_TIMEZONE, like the days of those tables. ``aggregates``
    is ``None`` when daily aggregates are kept forever.
    """

    events: dt.date
    quarantine: dt.date
    aggregates: dt.date | None
    visitors: dt.date

    @classmethod
    def at(cls, settings: Settings, now: dt.datetime) -> Cutoffs:
        """Cutoffs at ``now`` (timezone-aware) for the settings' retention periods.

        Raises:
            ValueError: ``now`` is naive (its instant would be ambiguous).
        """
        if now.tzinfo is None:
            raise ValueError(f"retention clock {now.isoformat()} has no time zone; give an aware datetime")
        utc = now.astimezone(dt.UTC).date()
        local = now.astimezone(zoneinfo.ZoneInfo(settings.timezone)).date()
        days = dt.timedelta
        return cls(
            events=utc - days(settings.retention_events_days),
            quarantine=utc - days(settings.retention_quarantine_days),
            aggregates=None
            if settings.retention_aggregates_days is None
            else local - days(settings.retention_aggregates_days),
            visitors=local - days(settings.retention_visitors_days),
        )


def rebuild_pending(settings: Settings) -> int:
    """Rebuild the aggregates of every day whose rebuild is pending; returns how many days.

    The same work as the ingest's ``rebuild_aggregates`` task with nothing newly committed:
    the days in ``aggregates_pending`` (left by a killed or failed ingest), or every day when
    the aggregate tables were recreated. Run before :func:`purge_raw`, so that no day loses
    its raw events before its aggregates hold them.
    """
    from warehouse.ingest import aggregate

    return aggregate(settings, [])


def blocked_partitions(con: duckdb.DuckDBPyConnection, timezone: str) -> tuple[set[dt.date] | None, str | None]:
    """The UTC event partitions whose raw events must stay: their days' aggregates were not
    rebuilt from their final events yet.

    Those are the partitions in ``aggregates_pending`` (committed, not rebuilt: an ingest
    between its commit and its rebuild, or one killed in between) and, outside UTC, the
    partitions next to them (a local day overlaps two UTC dates, and a purged partition would
    freeze the local day that still waits for the rebuild). All of them when the aggregate
    tables were recreated and not rebuilt since.

    Returns:
        ``(partitions, reason)``: ``(None, reason)`` means every partition, ``(set(), None)`` none.
    """
    stale = con.execute("select value from warehouse_meta where key = 'aggregates_stale'").fetchone() == ("true",)
    if stale:
        return None, "the aggregate tables were recreated and are not rebuilt yet"
    pending = {r[0] for r in con.execute("select event_date from aggregates_pending").fetchall()}
    if not pending:
        return set(), None
    if timezone != "UTC":
        pending = {d + dt.timedelta(days=k) for d in pending for k in (-1, 0, 1)}
    return pending, "their aggregates are not rebuilt from their final events yet (aggregates_pending)"


def expired_raw(con: duckdb.DuckDBPyConnection, cut: Cutoffs) -> tuple[list[tuple], list[tuple]]:
    """Registered raw files past their period: ``(event partitions, quarantine files)``, the
    partitions as ``(event_date, files, rows)`` by date, the files as ``(path, rows)``."""
    partitions = con.execute(
        "select event_date, count(*), sum(row_count) from ingest_files"
        " where kind = 'events' and event_date < ? group by event_date order by event_date",
        [cut.events],
    ).fetchall()
    quarantine = con.execute(
        "select path, row_count from ingest_files where kind in ('quarantine', 'rejected')"
        " and try_cast(regexp_extract(path, 'ingest_date=(\\d{4}-\\d{2}-\\d{2})', 1) as date) < ?",
        [cut.quarantine],
    ).fetchall()
    return partitions, quarantine


def purge_raw(settings: Settings, now: dt.datetime) -> dict:
    """Delete the raw events and quarantined lines that retention no longer keeps.

    In one transaction: the ``events`` files of UTC partitions before the events cutoff and the
    ``quarantine`` and ``rejected`` files of ``ingest_date`` partitions before the quarantine
    cutoff are removed from ``ingest_files`` and queued for deletion, each purged event
    partition is recorded in ``retention_purged_days`` (a partition purged again, because late
    lines arrived for it, adds to ``late_rows``), and the views are recreated without them.
    After the commit the files are deleted from disk. A run killed in between leaves them in
    ``retention_unlink_queue``; the next run (or :func:`sweep_orphans`) deletes them.

    An expired partition whose days' aggregates were not rebuilt from its final events
    (:func:`blocked_partitions`) is kept, and a warning names it; it goes with a later run,
    after :func:`rebuild_pending`.

    Args:
        now: the retention clock, timezone-aware (the DAG run's data interval end).

    Returns:
        ``{"event_partitions": [ISO dates], "event_files": n, "event_rows": n,
        "quarantine_files": n, "quarantine_rows": n, "blocked": [ISO dates of expired partitions
        kept], "blocked_reason": why or None}``; the counts are this run's (a repeated run
        returns zeros).
    """
    cut = Cutoffs.at(settings, now)
    con = storage.connect(settings.data_dir)
    try:
        unlink_queued(con, settings.data_dir)
        blocked, reason = blocked_partitions(con, settings.timezone)
        with storage.transaction(con):
            expired, quarantine = expired_raw(con, cut)
            partitions = [p for p in expired if blocked is not None and p[0] not in blocked]
            kept = [p[0].isoformat() for p in expired if blocked is None or p[0] in blocked]
            if kept:
                log.warning("raw events of %d expired partition(s) kept this run (%s): %s", len(kept), reason, kept)
            days = [p[0] for p in partitions]
            con.execute(
                "insert or ignore into retention_unlink_queue"
                " select path, ? from ingest_files where kind = 'events' and event_date = any(?)"
                " union all select unnest(cast(? as varchar[])), ?",
                [now, days, [q[0] for q in quarantine], now],
            )
            con.execute("delete from ingest_files where path in (select path from retention_unlink_queue)")
            for day, files, rows in partitions:
                con.execute(
                    """
                    insert into retention_purged_days values (?, ?, ?, ?, ?, 0)
                    on conflict (event_date) do update set
                        last_purged_at = excluded.last_purged_at,
                        files = files + excluded.files,
                        rows = rows + excluded.rows,
                        late_rows = late_rows + excluded.rows
                    """,
                    [day, now, now, files, rows],
                )
            storage.refresh_views(con, settings.data_dir)
        failpoint("retention.after_purge_commit")
        unlink_queued(con, settings.data_dir)
    finally:
        con.close()
    result = {
        "event_partitions": [d.isoformat() for d in days],
        "event_files": sum(p[1] for p in partitions),
        "event_rows": int(sum(p[2] for p in partitions)),
        "quarantine_files": len(quarantine),
        "quarantine_rows": sum(q[1] for q in quarantine),
        "blocked": kept,
        "blocked_reason": reason if kept else None,
    }
    log.info("purged raw data before %s (events) / %s (quarantine): %s", cut.events, cut.quarantine, result)
    return result


def _rollup_sql(rollup: Rollup) -> str:
    """The statement adding the daily rows of ``$days`` to the monthly table.

    Built from :data:`ROLLUPS` rather than kept as eight near-identical ``.sql`` files: the
    mapping is the model, and identifiers come from it only, never from input. The upsert
    adds to a month's existing row, so the month can be rolled up a few days at a time.
    """
    keys = list(rollup.keys)
    columns = ["month", *keys, *(name for name, _ in rollup.measures)]
    select = [
        "cast(date_trunc('month', day) as date) as month",
        *keys,
        *(f"sum({expr}) as {name}" for name, expr in rollup.measures),
    ]
    add = ", ".join(f"{name} = {rollup.monthly}.{name} + excluded.{name}" for name, _ in rollup.measures)
    return (
        f"insert into {rollup.monthly} ({', '.join(columns)})"
        f" select {', '.join(select)} from {rollup.daily} where day = any($days) group by all"
        f" on conflict ({', '.join(['month', *keys])}) do update set {add}"
    )


def expired_days(con: duckdb.DuckDBPyConnection, before: dt.date) -> list[dt.date]:
    """Days before ``before`` with rows in any daily aggregate table."""
    union = " union ".join(f"select {storage.aggregate_day(t)} as day from {t}" for t in daily_aggregate_tables())
    return [
        r[0] for r in con.execute(f"select distinct day from ({union}) where day < ? order by day", [before]).fetchall()
    ]


def roll_up(settings: Settings, now: dt.datetime) -> dict:
    """Add the daily aggregates of expired days to the monthly rollups, each day exactly once.

    A day is rolled up when it is before the aggregates cutoff, its raw events are purged
    (:func:`warehouse.storage.frozen_days`: its rows can no longer change) and it is not in
    ``rollup_days`` yet. In one transaction every :data:`ROLLUPS` table gets the day's rows
    added and the day goes into ``rollup_days``, so a repeated or killed run adds nothing twice.
    An expired day whose raw events are still there waits for a later run. Nothing is rolled
    up when daily aggregates are kept forever (``FOOTFALL_RETENTION_AGGREGATES_DAYS`` unset).

    Returns:
        ``{"days": [ISO dates rolled up], "waiting": [ISO dates expired but not final]}``.
    """
    cut = Cutoffs.at(settings, now)
    if cut.aggregates is None:
        return {"days": [], "waiting": []}
    con = storage.connect(settings.data_dir)
    try:
        with storage.transaction(con):
            done = {r[0] for r in con.execute("select day from rollup_days").fetchall()}
            expired = [d for d in expired_days(con, cut.aggregates) if d not in done]
            final = storage.frozen_days(con, expired, settings.timezone)
            days = sorted(final)
            waiting = sorted(set(expired) - final)
            if days:
                for rollup in ROLLUPS:
                    con.execute(_rollup_sql(rollup), {"days": days})
                    failpoint("retention.mid_rollup")
                con.execute("insert into rollup_days select unnest(cast(? as date[])), ?", [days, now])
    finally:
        con.close()
    if waiting:
        log.info("%d expired day(s) not rolled up yet: their raw events are not purged (%s)", len(waiting), waiting)
    return {"days": [d.isoformat() for d in days], "waiting": [d.isoformat() for d in waiting]}


def purge_aggregates(settings: Settings, now: dt.datetime) -> dict:
    """Delete daily aggregate rows of rolled-up days before the aggregates cutoff, and rows of
    the :data:`VISITOR_TABLES` before the visitors cutoff; one transaction.

    A daily row is deleted only once its day is in ``rollup_days``: an expired day that could
    not be rolled up yet keeps its rows (it is never lost from the rollups). With daily
    aggregates kept forever, only the visitor tables lose rows.

    Returns:
        ``{"rows": {table: rows deleted}}`` for every table of both categories.
    """
    cut = Cutoffs.at(settings, now)
    con = storage.connect(settings.data_dir)
    deleted: dict[str, int] = {}
    try:
        with storage.transaction(con):
            for table in daily_aggregate_tables() if cut.aggregates is not None else []:
                day = storage.aggregate_day(table)
                (n,) = con.execute(
                    f"delete from {table} where {day} < ? and {day} in (select day from rollup_days)",
                    [cut.aggregates],
                ).fetchone()
                deleted[table] = n
                failpoint("retention.mid_purge_aggregates")
            for table, day in VISITOR_TABLES:
                (n,) = con.execute(f"delete from {table} where {day} < ?", [cut.visitors]).fetchone()
                deleted[table] = n
    finally:
        con.close()
    log.info("deleted aggregate rows before %s (daily), %s (visitor tables): %s", cut.aggregates, cut.visitors, deleted)
    return {"rows": deleted}


def run(settings: Settings, now: dt.datetime, wall_now: dt.datetime) -> dict:
    """All retention steps in order, as the DAG runs them; returns each step's result by name.

    Args:
        now: the retention clock (timezone-aware).
        wall_now: real time, for :func:`sweep_orphans` only.
    """
    return {
        "rebuild_pending": rebuild_pending(settings),
        "purge_raw": purge_raw(settings, now),
        "roll_up": roll_up(settings, now),
        "purge_aggregates": purge_aggregates(settings, now),
        "sweep_orphans": sweep_orphans(settings, wall_now),
    }
