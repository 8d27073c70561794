"""What a retention run would delete and roll up, without changing anything.

``python -m warehouse.cli retention --dry-run`` prints it, and the first task of
``footfall_retention`` logs it before anything is deleted, so that an operator can see what a
run will do (or has done) to a warehouse in plain words: which raw partitions go, which days are
rolled up, how many rows of which tables are deleted.

The plan follows the steps of :func:`warehouse.retention.run` with the same selections
(:func:`warehouse.retention.expired_raw`, :func:`warehouse.retention.expired_days`,
:func:`warehouse.retention.find_orphans`), read-only. Pending aggregate rebuilds are counted as done,
since the run's first step does them before anything is purged.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import duckdb

from transforms.models import catalogue, rebuild
from warehouse import storage
from warehouse.retention import (
    VISITOR_TABLES,
    Cutoffs,
    daily_aggregate_tables,
    expired_days,
    expired_raw,
    find_orphans,
)
from warehouse.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RetentionPlan:
    """What one retention run at ``clock`` would do (see :func:`plan`).

    Attributes:
        clock: the retention clock; ``cutoffs``: the first day kept per category.
        pending_days: UTC partitions waiting for an aggregate rebuild (rebuilt first);
            ``stale``: the aggregate tables were recreated and every day is rebuilt first.
        event_partitions: ``(UTC date, files, rows)`` of the raw event partitions deleted.
        quarantine_files, quarantine_rows: quarantined and rejected lines deleted.
        rollup_days: days rolled up into the monthly tables; ``rollup_waiting``: expired days
            that are not final yet (their raw events stay), rolled up by a later run.
        aggregate_rows, visitor_rows: table -> rows deleted.
        orphan_files, staging_dirs: files and staging dirs :func:`warehouse.retention.sweep_orphans`
            deletes (judged by ``wall_now``).
    """

    clock: dt.datetime
    cutoffs: Cutoffs
    pending_days: list[dt.date] = field(default_factory=list)
    stale: bool = False
    event_partitions: list[tuple[dt.date, int, int]] = field(default_factory=list)
    quarantine_files: int = 0
    quarantine_rows: int = 0
    rollup_days: list[dt.date] = field(default_factory=list)
    rollup_waiting: list[dt.date] = field(default_factory=list)
    aggregate_rows: dict[str, int] = field(default_factory=dict)
    visitor_rows: dict[str, int] = field(default_factory=dict)
    orphan_files: int = 0
    staging_dirs: int = 0

    @property
    def changes_nothing(self) -> bool:
        return not (
            self.event_partitions
            or self.quarantine_files
            or self.rollup_days
            or any(self.aggregate_rows.values())
            or any(self.visitor_rows.values())
            or self.orphan_files
            or self.staging_dirs
        )


def plan(settings: Settings, con: duckdb.DuckDBPyConnection, now: dt.datetime, wall_now: dt.datetime) -> RetentionPlan:
    """The :class:`RetentionPlan` of a run at ``now`` (``wall_now``: real time, for orphans).

    Args:
        con: a connection to the warehouse; only read (a read-only one does).
    """
    cut = Cutoffs.at(settings, now)
    result = RetentionPlan(now, cut)
    result.pending_days = [r[0] for r in con.execute("select event_date from aggregates_pending order by 1").fetchall()]
    stale = con.execute("select value from warehouse_meta where key = 'aggregates_stale'").fetchone()
    result.stale = stale == ("true",)
    partitions, quarantine = expired_raw(con, cut)
    result.event_partitions = [(day, files, int(rows)) for day, files, rows in partitions]
    result.quarantine_files, result.quarantine_rows = len(quarantine), sum(q[1] for q in quarantine)
    purged = rebuild.purged_partitions(con) | {p[0] for p in partitions}
    rolled = {r[0] for r in con.execute("select day from rollup_days").fetchall()}
    if cut.aggregates is not None:
        expired = [d for d in expired_days(con, cut.aggregates) if d not in rolled]
        final = {d for d in expired if not purged.isdisjoint(rebuild.utc_partitions_of(d, settings.timezone))}
        result.rollup_days = sorted(final)
        result.rollup_waiting = sorted(set(expired) - final)
        for table in daily_aggregate_tables():
            day = catalogue.aggregate_day(table)
            (n,) = con.execute(
                f"select count(*) from {table} where {day} < ? and {day} = any(?)",
                [cut.aggregates, sorted(rolled | final)],
            ).fetchone()
            result.aggregate_rows[table] = n
    for table, day in VISITOR_TABLES:
        (n,) = con.execute(f"select count(*) from {table} where {day} < ?", [cut.visitors]).fetchone()
        result.visitor_rows[table] = n
    files, staging = find_orphans(settings, con, wall_now)
    queued = con.execute("select count(*) from retention_unlink_queue").fetchone()[0]
    result.orphan_files, result.staging_dirs = len(files) + queued, len(staging)
    return result


def _span(days: list[dt.date]) -> str:
    if not days:
        return "none"
    shown = f"{days[0]} .. {days[-1]}" if len(days) > 1 else str(days[0])
    return f"{len(days)} day(s), {shown}"


def describe(p: RetentionPlan, settings: Settings) -> str:
    """The plan in plain words, one line per step (what ``retention --dry-run`` prints)."""
    cut = p.cutoffs
    lines = [f"retention plan at {p.clock.isoformat()} (a dry run: nothing is changed)"]
    if p.stale:
        lines.append("  first:              every day's aggregates are rebuilt (the aggregate tables were recreated)")
    elif p.pending_days:
        lines.append(f"  first:              aggregates rebuilt for {_span(p.pending_days)} (UTC partitions pending)")
    rows = sum(r for _, _, r in p.event_partitions)
    files = sum(f for _, f, _ in p.event_partitions)
    days = [d for d, _, _ in p.event_partitions]
    lines.append(
        f"  raw events:         kept {settings.retention_events_days} days; would delete those before {cut.events} "
        f"(UTC): {rows:,} event(s) in {files} file(s), partitions: {_span(days)}"
    )
    lines.append(
        f"  quarantine:         kept {settings.retention_quarantine_days} days; would delete those before "
        f"{cut.quarantine} (UTC): {p.quarantine_rows:,} line(s) in {p.quarantine_files} file(s)"
    )
    if cut.aggregates is None:
        lines.append(
            "  daily aggregates:   kept forever (FOOTFALL_RETENTION_AGGREGATES_DAYS is unset): nothing rolled up "
            "or deleted"
        )
    else:
        deleted = ", ".join(f"{t} {n:,}" for t, n in p.aggregate_rows.items() if n) or "none"
        lines.append(
            f"  daily aggregates:   kept {settings.retention_aggregates_days} days; would roll up "
            f"{_span(p.rollup_days)} into the monthly tables, then delete the rows before {cut.aggregates} "
            f"({settings.timezone}) of rolled-up days: {deleted}"
        )
        if p.rollup_waiting:
            lines.append(f"                      waiting for their raw events to go: {_span(p.rollup_waiting)}")
    visitors = ", ".join(f"{t} {n:,}" for t, n in p.visitor_rows.items() if n) or "none"
    lines.append(
        f"  visitor tables:     kept {settings.retention_visitors_days} days; would delete the rows before "
        f"{cut.visitors} ({settings.timezone}): {visitors}"
    )
    lines.append(f"  orphans:            would delete {p.orphan_files} file(s) and {p.staging_dirs} staging dir(s)")
    if p.changes_nothing:
        lines.append("  nothing to delete")
    return "\n".join(lines)


def log_plan(settings: Settings, now: dt.datetime, wall_now: dt.datetime) -> str:
    """Log :func:`describe` of the plan at ``now`` (the retention DAG's first task) and return it;
    without a warehouse yet, say so."""
    try:
        con = storage.connect(settings.data_dir, read_only=True)
    except FileNotFoundError as exc:
        text = f"retention plan: {exc}; nothing to delete"
    else:
        try:
            text = describe(plan(settings, con, now, wall_now), settings)
        finally:
            con.close()
    log.info("%s", text)
    return text
