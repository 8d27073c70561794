"""``outbox list|show|retry|discard|deliver``: inspect the report outbox and unblock it.

The outbox is the table ``report_outbox`` (docs/operators/reporting.md). ``retry``, ``discard`` and
``deliver`` open the warehouse for writing: they fail (one line) while an Airflow task holds it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from warehouse import storage
from warehouse.cli.app import app, load_settings, state_connection
from warehouse.errors import CommandError
from warehouse.reporting import outbox
from warehouse.settings import Settings

outbox_app = typer.Typer(
    help="The report outbox (table report_outbox; docs/operators/reporting.md): list, show, retry, discard, deliver.",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox", short_help="the report outbox: list, show, retry, discard, deliver")

Status = enum.StrEnum("Status", {s: s for s in outbox.STATUSES})
Kind = enum.StrEnum("Kind", {k: k for k in outbox.KINDS})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def list_outbox(
    settings: Settings, status: str | None = None, kind: str | None = None, limit: int = 50, out=None
) -> None:
    """Write the newest reports (oldest first) and the counts per kind and state."""
    out = out or sys.stdout
    con = state_connection(settings)
    try:
        for r in outbox.list_reports(con, status=status, kind=kind, limit=limit):
            when = r["delivered_at"] if r["status"] == "delivered" else r["next_attempt_at"]
            out.write(
                f"{r['report_id']:<52} {r['status']:<9} attempts={r['attempts']:<3} "
                f"{when.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ} {r['payload_bytes']:>7} B"
                + (f"  last: {r['last_error'][:80]}" if r["last_error"] and r["status"] != "delivered" else "")
                + "\n"
            )
        counts = outbox.counts_by_status(con)
    finally:
        con.close()
    out.write("  ".join(f"{k}/{s}: {n}" for (k, s), n in sorted(counts.items())) + "\n")


def show_report(settings: Settings, report_id: str, out=None) -> None:
    """Write one report's state, attempts, last error and payload.

    Raises:
        warehouse.reporting.outbox.OutboxError: no such report.
    """
    out = out or sys.stdout
    con = state_connection(settings)
    try:
        row = outbox.get_report(con, report_id)
    finally:
        con.close()
    for key, value in row.items():
        if key != "payload":
            out.write(f"{key}: {value}\n")
    out.write(f"payload: {row['payload']}\n")


def move_report(settings: Settings, report_id: str, action: str, now: dt.datetime, out=None) -> None:
    """``retry`` (back to pending, due now) or ``discard`` (never sent) one report.

    Raises:
        warehouse.reporting.outbox.OutboxError: no such report, or its state does not allow it.
    """
    con = storage.connect(settings.data_dir)
    try:
        before = (outbox.retry if action == "retry" else outbox.discard)(con, report_id, now=now)
    finally:
        con.close()
    after = "pending; the next delivery run sends it" if action == "retry" else "discarded; it will not be sent"
    (out or sys.stdout).write(f"{report_id}: {before} -> {after}\n")


def deliver(settings: Settings, clock: Callable[[], dt.datetime] = _now, out=None) -> None:
    """One delivery run now, in this process (what footfall_delivery does); writes its summary.

    Raises:
        CommandError: reporting is disabled, or the API refused a report.
    """
    from warehouse.reporting import delivery

    if not settings.visit_tracking_enabled:
        raise CommandError("reporting is disabled (VISIT_TRACKING_ENABLED): nothing is sent")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        summary = delivery.deliver_due(settings, clock=clock)
    except outbox.DeliveryRejected as exc:
        raise CommandError(str(exc)) from None
    (out or sys.stdout).write(f"{json.dumps(summary)}\n")


@outbox_app.command("list", short_help="the newest reports and the counts per state")
def list_command(
    status: Annotated[Status | None, typer.Option(help="Only reports in this state")] = None,
    kind: Annotated[Kind | None, typer.Option(help="Only reports of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest reports listed at most")] = 50,
) -> None:
    """List the newest reports, oldest first, with their state and attempts, and the counts per state."""
    list_outbox(load_settings(), status and status.value, kind and kind.value, limit)


@outbox_app.command("show", short_help="one report: state, attempts, error, payload")
def show_command(report_id: Annotated[str, typer.Argument(help="A report id (see `outbox list`)")]) -> None:
    """Show one report: state, attempts, last error, payload."""
    show_report(load_settings(), report_id)


@outbox_app.command("retry", short_help="send a failed report again")
def retry_command(report_id: Annotated[str, typer.Argument(help="A failed or discarded report's id")]) -> None:
    """Put a failed (or discarded) report back to pending, due now: the next delivery run sends it."""
    move_report(load_settings(), report_id, "retry", _now())


@outbox_app.command("discard", short_help="never send a report")
def discard_command(report_id: Annotated[str, typer.Argument(help="A failed or pending report's id")]) -> None:
    """Give up a failed or pending report: it is never sent (and no longer holds back its kind)."""
    move_report(load_settings(), report_id, "discard", _now())


@outbox_app.command("deliver", short_help="one delivery run now, in this process")
def deliver_command() -> None:
    """Run one delivery now, in this process (what footfall_delivery does). Exit 1 when reporting is disabled."""
    deliver(load_settings())
