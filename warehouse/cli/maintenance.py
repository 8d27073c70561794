"""Commands that change the warehouse: ``reingest``, ``rebuild``, ``retention``.

They open the warehouse for writing, so they wait for no one: run them while no Airflow task
holds it (a locked warehouse is reported in one line).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from transforms.models.rebuild import frozen_days
from warehouse import snapshot, storage
from warehouse.aggregation import rebuild_aggregates
from warehouse.cli.app import app, load_settings, state_connection
from warehouse.errors import CommandError
from warehouse.settings import Settings


@app.command("reingest", short_help="read a log file again from its start")
def reingest_command(
    path: Annotated[
        Path, typer.Argument(help="A log file footfall has read (plain or .gz)", exists=True, dir_okay=False)
    ],
) -> int:
    """Make the next footfall_ingest run read a log file again from its first byte.

    Its earlier Parquet files are replaced by that run's commit (nothing is counted twice).
    Exit 1 when no ingested source matches the file.
    """
    from warehouse.ingest.sources import mark_for_reingest

    source = mark_for_reingest(load_settings(), path)
    if source is None:
        print(f"{path} matches no ingested source: the next run reads it anyway", file=sys.stderr)
        return 1
    print(f"source {source} will be read again from the start by the next footfall_ingest run")
    return 0


def rebuild(settings: Settings, first: str | None = None, last: str | None = None, out=None) -> int:
    """Recompute the aggregates of the days ``first``..``last`` (ISO dates, inclusive), or of
    every day with events, then publish a snapshot; returns how many days were rebuilt. One
    transaction.

    Days whose raw events retention purged are skipped (their aggregates are final) and
    listed on ``out``."""
    con = storage.connect(settings.data_dir)
    try:
        tz = settings.timezone
        if first:
            start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last or first)
            days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        else:
            # Days already aggregated too: under another time zone or rule they may have no events now.
            rows = con.execute(
                "select distinct cast(timezone(?, ts) as date) from events union select day from daily_traffic", [tz]
            ).fetchall()
            days = [r[0] for r in rows]
        frozen = sorted(frozen_days(con, days, tz))
        if frozen:
            (out or sys.stdout).write(
                f"skipped {len(frozen)} day(s) whose raw events retention purged ({frozen[0]} .. {frozen[-1]}): "
                "their aggregates are kept as they are\n"
            )
        rebuilt = rebuild_aggregates(con, days, settings.model_params)
        snapshot.publish(con, settings, "rebuild")
        return rebuilt
    finally:
        con.close()


@app.command("rebuild", short_help="recompute the aggregates of some days")
def rebuild_command(
    first: Annotated[str | None, typer.Argument(help="First day, YYYY-MM-DD in FOOTFALL_TIMEZONE")] = None,
    last: Annotated[str | None, typer.Argument(help="Last day (default: FIRST)")] = None,
) -> int:
    """Recompute every aggregate table for the days FIRST..LAST (default: every day with events).

    For example after changing FOOTFALL_TIMEZONE or FOOTFALL_COUNT_CRAWLERS. Days whose raw
    events retention deleted are skipped and listed: their aggregates are final.
    """
    for value in (first, last):
        if value is not None:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise CommandError(f"{value!r} is not a date; give YYYY-MM-DD", 2) from None
    print(f"rebuilt {rebuild(load_settings(), first, last)} day(s)")
    return 0


def _clock(now: str | None) -> dt.datetime:
    if not now:
        return dt.datetime.now(dt.UTC)
    try:
        clock = dt.datetime.fromisoformat(now)
    except ValueError:
        raise CommandError(f"--now {now!r} is not an ISO-8601 date or time, e.g. 2025-03-10T00:00:00Z", 2) from None
    return clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)


def retention_report(settings: Settings, clock: dt.datetime, done: dict, out=None) -> None:
    """Print what a retention run (:func:`warehouse.retention.run`) did."""
    from warehouse import retention

    cut = retention.Cutoffs.at(settings, clock)
    raw, rolled, aggregates, sweep = done["purge_raw"], done["roll_up"], done["purge_aggregates"], done["sweep_orphans"]
    w = (out or sys.stdout).write
    w(f"retention at {clock.isoformat()}\n")
    w(f"  rebuilt pending:    {done['rebuild_pending']} day(s)\n")
    w(f"  raw events:         before {cut.events} (UTC): ")
    w(f"{raw['event_rows']:,} event(s) in {raw['event_files']} file(s), partitions {raw['event_partitions']}\n")
    if raw["blocked"]:
        w(f"                      kept: {raw['blocked']}, {raw['blocked_reason']}\n")
    w(f"  quarantine:         before {cut.quarantine} (UTC): {raw['quarantine_rows']:,} line(s) in ")
    w(f"{raw['quarantine_files']} file(s)\n")
    if cut.aggregates is None:
        w("  daily aggregates:   kept forever (FOOTFALL_RETENTION_AGGREGATES_DAYS is unset)\n")
    else:
        w(f"  rolled up:          {len(rolled['days'])} day(s) {rolled['days']}")
        w(f"; waiting for their raw events to go: {rolled['waiting']}\n" if rolled["waiting"] else "\n")
        w(f"  daily aggregates:   before {cut.aggregates} ({settings.timezone}): ")
        deleted = ", ".join(f"{t} {n:,}" for t, n in aggregates["rows"].items() if n)
        w(f"rows deleted: {deleted}\n" if deleted else "nothing deleted\n")
    w(f"  orphans swept:      {len(sweep['files'])} file(s), {len(sweep['staging'])} staging dir(s)\n")


@app.command("publish", short_help="publish a snapshot of the warehouse for readers now")
def publish_command() -> int:
    """Publish a snapshot (analytics.duckdb) of the warehouse as it is now.

    The ingest DAG publishes one after every aggregate rebuild, and retention after what it
    deletes; read commands and the analytics API read the newest (warehouse/snapshot.py).
    """
    settings = load_settings()
    con = storage.connect(settings.data_dir)
    try:
        info = snapshot.publish(con, settings, "publish")
    finally:
        con.close()
    print(f"published snapshot generation {info.generation} ({info.path}), data as of {info.data_as_of}")
    return 0


@app.command("retention", short_help="delete what retention no longer keeps (--dry-run)")
def retention_command(
    now: Annotated[
        str | None, typer.Option(help="The clock, ISO-8601 (a date is its midnight UTC; default: now)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be deleted and rolled up; change nothing")
    ] = False,
) -> int:
    """Run the retention steps now (what footfall_retention does) and print what was deleted.

    Raw events and quarantined lines go after FOOTFALL_RETENTION_EVENTS_DAYS and
    FOOTFALL_RETENTION_QUARANTINE_DAYS; daily aggregates are kept forever unless
    FOOTFALL_RETENTION_AGGREGATES_DAYS is set. With --dry-run nothing is changed.
    Orphaned files are judged by real time whatever --now says.
    """
    from warehouse import retention
    from warehouse.retention_plan import describe, plan

    settings = load_settings()
    clock, wall_now = _clock(now), dt.datetime.now(dt.UTC)
    if dry_run:
        con = state_connection(settings)
        try:
            print(describe(plan(settings, con, clock, wall_now), settings))
        finally:
            con.close()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    retention_report(settings, clock, retention.run(settings, clock, wall_now))
    return 0
