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
   partitions (``retention_purged_days``) in one transaction, refresh the views, publish a
   snapshot without them, then delete the files no snapshot still open reads (the others wait
   for it: ``warehouse/snapshot.py``). From then on :func:`warehouse.storage.rebuild_aggregates`
   skips every day those partitions overlap: the safety rule that keeps aggregates from being
   recomputed, and wiped, from raw data that is gone. A partition whose days' aggregates were
   not rebuilt from its final events (:func:`blocked_partitions`) is kept until they are.
3. :func:`roll_up`: add the daily rows of expired days whose raw events are gone (so they can
   no longer change) to the monthly tables, and record the days in ``rollup_days``, in one
   transaction: each day is added exactly once. Nothing when aggregates are kept forever.
4. :func:`purge_aggregates`: delete the daily rows of rolled-up expired days (none when they are
   kept forever), and the rows of the visitor tables past their own period.
5. :func:`sweep_orphans`: delete Parquet files no ``ingest_files`` row references (left by a
   killed ingest or purge) once they are an hour old, and staging dirs a day old.

Steps 1 to 4 publish a snapshot for readers when they changed something.
:mod:`warehouse.retention_plan` says what a run would do without changing anything (``cli
retention --dry-run``, and the DAG's first task).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import snapshot, storage
from warehouse.failpoints import failpoint
from warehouse.rollups import NOT_ROLLED_UP, ROLLUPS, Rollup, rollup_sql  # noqa: F401 (re-exported)
from warehouse.settings import Settings

log = logging.getLogger(__name__)

# Per-day tables at visit or visitor grain, kept FOOTFALL_RETENTION_VISITORS_DAYS and not rolled
# up: (table, SQL expression of a row's day in FOOTFALL_TIMEZONE). A table listed here is taken
# out of the daily aggregates category even when rebuild_aggregates fills it.
VISITOR_TABLES: tuple[tuple[str, str], ...] = (
    # docs/analysts/communities.md: visitor grain, aggregated at query time by the community views.
    ("visitor_daily", "day"),
    ("visitor_hourly", "day"),
    ("post_views_daily", "day"),
)


# Unregistered Parquet files younger than this are left alone: an ingest killed after renaming
# its files into place is retried by Airflow within minutes and registers them then.
ORPHAN_GRACE = dt.timedelta(hours=1)
# A staging dir untouched this long belongs to a run that will not commit any more.
STAGING_GRACE = dt.timedelta(days=1)


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

    return aggregate(settings, [], published_by="retention")


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
    After the commit a snapshot is published, and the files no snapshot still open reads are
    deleted from disk (:func:`warehouse.snapshot.release_files`); the others, and those of a run
    killed in between, wait in ``retention_unlink_queue`` for a later publication or run.

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
        snapshot.release_files(con, settings.data_dir)
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
        # The new snapshot's views no longer read the purged files; they are deleted when no
        # older snapshot still open reads them either (snapshot.release_files).
        snapshot.publish(con, settings, "retention")
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
                    con.execute(rollup_sql(rollup), {"days": days})
                    failpoint("retention.mid_rollup")
                con.execute("insert into rollup_days select unnest(cast(? as date[])), ?", [days, now])
        if days:
            snapshot.publish(con, settings, "retention")
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
        if any(deleted.values()):
            snapshot.publish(con, settings, "retention")
    finally:
        con.close()
    log.info("deleted aggregate rows before %s (daily), %s (visitor tables): %s", cut.aggregates, cut.visitors, deleted)
    return {"rows": deleted}


def _newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                newest = max(newest, (Path(root) / name).stat().st_mtime)
            except FileNotFoundError:
                pass
    return newest


def find_orphans(
    settings: Settings, con: duckdb.DuckDBPyConnection, wall_now: dt.datetime
) -> tuple[list[Path], list[Path]]:
    """What :func:`sweep_orphans` deletes besides the release queue, without deleting:
    ``(Parquet files, staging dirs)``.

    Parquet files under ``events/`` and ``quarantine/`` that no ``ingest_files`` row references
    and no open snapshot reads, last modified more than :data:`ORPHAN_GRACE` before
    ``wall_now``; staging dirs (``staging/<run id>/``) with nothing modified for
    :data:`STAGING_GRACE`.
    """
    data_dir = settings.data_dir
    oldest_orphan = (wall_now - ORPHAN_GRACE).timestamp()
    oldest_staging = (wall_now - STAGING_GRACE).timestamp()
    # Unregistered files an open snapshot still reads wait in retention_unlink_queue for it.
    registered = {r[0] for r in con.execute("select path from ingest_files").fetchall()}
    registered |= snapshot.protected_files(con)
    files = [
        path
        for top in (settings.events_dir, settings.quarantine_dir)
        for path in (sorted(top.rglob("*.parquet")) if top.exists() else [])
        if str(path.relative_to(data_dir)) not in registered and path.stat().st_mtime < oldest_orphan
    ]
    staging = []
    if settings.staging_dir.exists():
        staging = [
            d for d in sorted(settings.staging_dir.iterdir()) if d.is_dir() and _newest_mtime(d) < oldest_staging
        ]
    return files, staging


def sweep_orphans(settings: Settings, wall_now: dt.datetime) -> dict:
    """Delete files nothing references: what a killed ingest or purge left behind.

    * Files queued by a purge that no snapshot reads any more (``retention_unlink_queue``,
      :func:`warehouse.snapshot.release_files`).
    * The unregistered Parquet files and stale staging dirs of :func:`find_orphans`.

    The warehouse stays open for writing throughout, so no commit can be registering files
    meanwhile. ``wall_now`` is real time, not the retention clock: the grace protects files of
    ingest runs happening now (a commit killed after renaming its files into place, retried by
    Airflow within minutes, registers them), whatever dates a backfill or test passes as clock.

    Returns:
        ``{"files": [paths relative to the data dir], "staging": [run dir names]}``.
    """
    data_dir = settings.data_dir
    con = storage.connect(data_dir)
    try:
        removed = snapshot.release_files(con, data_dir)
        files, stale = find_orphans(settings, con, wall_now)
        for path in files:
            path.unlink(missing_ok=True)
            removed.append(str(path.relative_to(data_dir)))
        snapshot.remove_empty_dirs(data_dir, {str(path.parent.relative_to(data_dir)) for path in files})
        for run_dir in stale:
            shutil.rmtree(run_dir, ignore_errors=True)
        staging = [d.name for d in stale]
    finally:
        con.close()
    if removed or staging:
        log.warning("removed %d orphaned file(s) and %d stale staging dir(s)", len(removed), len(staging))
    return {"files": removed, "staging": staging}


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
