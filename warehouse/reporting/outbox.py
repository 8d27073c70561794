"""The report outbox: table ``report_outbox`` (``ddl/010_outbox.sql``) and its state machine.

Every report is a row keyed by its id, which is also the ``Idempotency-Key`` it is sent with::

    build ──► pending ──claim──► sending ──2xx────────────► delivered   (final: never sent again)
               ▲   ▲                │
               │   └── retryable ───┤   (connection error, timeout, 408, 429, 5xx: backoff)
               │       not tried ───┤   (an older report of the kind failed first, or no time left)
               │       lease over ──┘   (the delivery run died: another run takes it over)
               │                    │
               │                    └──other 4xx/3xx──► failed ──discard──► discarded
               └──────────── retry (operator) ◄────────┘  (blocks its kind until an operator acts)

A delivery run does not hold the warehouse while it talks HTTP: :func:`claim` opens the
warehouse, marks the due reports ``sending`` under a lease, copies their payloads into a
spool directory (:mod:`warehouse.reporting.spool`) and closes it;
:func:`warehouse.reporting.delivery.send_claim` POSTs them from the spool and appends each
outcome to ``results.jsonl`` there; :func:`record` opens the warehouse again and applies the
outcomes. Each step is one Airflow task; only the first and last take the
``footfall_warehouse`` pool.

Order: per kind, reports go out in interval order. A report that is waiting (backoff, in
flight, failed) holds back every later report of its kind; kinds do not hold each other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import logging
import secrets
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse import storage
from warehouse.reporting.spool import (
    CLAIM_FILE,
    Result,
    read_results,
    sent_payload,
    spool_root,
)
from warehouse.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("visits", "daily_summary")
STATUSES = ("pending", "sending", "delivered", "failed", "discarded")
# How long a claim holds its reports. A delivery run stops starting POSTs after half of it,
# so the other half covers the last request and the record step; after it, another run
# takes the reports over (and may send them again, with the same Idempotency-Key).
CLAIM_LEASE = dt.timedelta(hours=1)
# Of a response body kept as the reason of a failure.
MAX_ERROR_CHARS = 2000


class DeliveryRejected(RuntimeError):
    """A report is ``failed``: the reporting API refused it with a final status. The message
    holds each failed report, the reason and the commands that unblock it."""

    def __init__(self, message: str, failed: list[tuple[str, str | None]]) -> None:
        super().__init__(message)
        self.failed = failed


class OutboxError(ValueError):
    """An operator command does not apply to a report (unknown id, wrong state)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- building -----------------------------------------------------------------------------


def enqueue(
    con: duckdb.DuckDBPyConnection,
    report_id: str,
    kind: str,
    start: dt.datetime,
    end: dt.datetime,
    payload: bytes,
    *,
    now: dt.datetime,
) -> str:
    """Queue ``payload`` as report ``report_id``; idempotent per report id (one per interval).

    Returns what happened:

    - ``created``: a new ``pending`` row, due now.
    - ``unchanged``: the row already holds these bytes.
    - ``updated``: the row is not delivered yet (pending, sending, failed) and now holds the new
      payload; its state, attempts and schedule are kept. A ``failed`` report stays failed.
    - ``frozen``: the row is ``delivered`` or ``discarded`` and keeps the payload it has; the
      new one (events ingested after delivery) is not sent. Logged as a warning.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    digest = sha256_hex(payload)
    with storage.transaction(con):
        row = con.execute(
            "select status, payload_sha256 from report_outbox where report_id = ?", [report_id]
        ).fetchone()
        if row is None:
            con.execute(
                "insert into report_outbox (report_id, kind, interval_start, interval_end, payload, payload_sha256, "
                "created_at, built_at, status, attempts, next_attempt_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
                [report_id, kind, start, end, payload.decode("utf-8"), digest, now, now, now],
            )
            outcome = "created"
        elif row[1] == digest:
            outcome = "unchanged"
        elif row[0] in ("delivered", "discarded"):
            outcome = "frozen"
        else:
            con.execute(
                "update report_outbox set payload = ?, payload_sha256 = ?, built_at = ? where report_id = ?",
                [payload.decode("utf-8"), digest, now, report_id],
            )
            outcome = "updated"
    if outcome == "frozen":
        log.warning(
            "report %s is %s; the rebuilt payload (events ingested since) is not sent: "
            "a report is sent at most once per interval",
            report_id, row[0],
        )  # fmt: skip
    return outcome


def payload_of(con: duckdb.DuckDBPyConnection, report_id: str) -> bytes:
    """The stored payload bytes of a report."""
    row = con.execute("select payload from report_outbox where report_id = ?", [report_id]).fetchone()
    if row is None:
        raise OutboxError(f"no report {report_id!r} in the outbox")
    return row[0].encode("utf-8")


# -- claiming -----------------------------------------------------------------------------


def _due_in_order(rows: Iterable[tuple], now: dt.datetime) -> tuple[list[tuple], dict[str, str]]:
    """Pick, per kind, the leading run of due reports; say what holds each kind back.

    ``rows`` are ``(report_id, kind, interval_start, interval_end, status, next_attempt_at,
    lease_until, ...)`` of every pending, sending and failed report, ordered by kind and
    interval. Returns the picked rows merged in interval order (each kind's order kept) and,
    per held-back kind, the report that holds it.
    """
    per_kind: dict[str, list[tuple]] = {}
    held: dict[str, str] = {}
    for row in rows:
        rid, kind, _start, _end, status, next_at, lease = row[:7]
        if kind in held:
            continue
        if status == "failed":
            held[kind] = f"{rid} failed"
        elif status == "sending" and lease > now:
            held[kind] = f"{rid} is being sent"
        elif status == "pending" and next_at > now:
            held[kind] = f"{rid} waits until {next_at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
        else:
            per_kind.setdefault(kind, []).append(row)
    merged = list(heapq.merge(*per_kind.values(), key=lambda r: (r[2], r[3], r[0])))
    return merged, held


def claim(settings: Settings, *, now: dt.datetime) -> dict:
    """Claim the reports due at ``now`` (at most ``report_batch``) for one delivery run.

    First takes over claims whose lease is over (their run died): outcomes already in their
    spool are applied, the rest goes back to ``pending``. Then marks the due reports
    ``sending`` under a new claim and copies their payloads into ``delivery/<claim_id>/``.

    Returns:
        ``{"claim_id": id or None, "spool": path or None, "reports": n, "held": {kind: why}}``
        (JSON-serialisable, for XCom). Nothing is claimed while reporting is disabled.

    Raises:
        ConfigError: reporting is enabled without a usable endpoint (nothing is claimed).
    """
    if not settings.visit_tracking_enabled:
        log.info("reporting disabled (VISIT_TRACKING_ENABLED): nothing is sent; reports stay in the outbox")
        return {"claim_id": None, "spool": None, "reports": 0, "held": {}}
    settings.check_reporting()
    claim_id = f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    spool = spool_root(settings) / claim_id
    lease_until = now + CLAIM_LEASE
    con = storage.connect(settings.data_dir)
    try:
        _take_over_expired(con, settings, now)
        rows = con.execute(
            "select report_id, kind, interval_start, interval_end, status, next_attempt_at, lease_until, "
            "attempts, payload_sha256 from report_outbox where status in ('pending', 'sending', 'failed') "
            "order by kind, interval_start, interval_end, report_id"
        ).fetchall()
        due, held = _due_in_order(rows, now)
        due = due[: settings.report_batch]
        if due:
            spool.mkdir(parents=True)
            entries = []
            try:
                with storage.transaction(con):
                    for i, (rid, kind, _s, _e, _st, _n, _l, attempts, digest) in enumerate(due):
                        name = f"{i:04d}.json"
                        (spool / name).write_bytes(payload_of(con, rid))
                        entries.append(
                            {"report_id": rid, "kind": kind, "file": name, "sha256": digest, "attempts": attempts}
                        )
                        con.execute(
                            "update report_outbox set status = 'sending', claim_id = ?, lease_until = ? "
                            "where report_id = ?",
                            [claim_id, lease_until, rid],
                        )
                    manifest = {
                        "claim_id": claim_id,
                        "claimed_at": now.isoformat(),
                        "send_until": (now + CLAIM_LEASE / 2).isoformat(),
                        "reports": entries,
                    }
                    (spool / CLAIM_FILE).write_text(json.dumps(manifest, indent=1))
            except BaseException:
                # The spool of a claim that was never committed would look like a live one.
                shutil.rmtree(spool, ignore_errors=True)
                raise
        live = {
            r[0] for r in con.execute("select distinct claim_id from report_outbox where status = 'sending'").fetchall()
        }
    finally:
        con.close()
    _remove_stale_spools(settings, live)
    for kind, why in sorted(held.items()):
        log.info("%s reports held back: %s", kind, why)
    log.info("claimed %d report(s) for delivery (claim %s)", len(due), claim_id if due else "-")
    return {
        "claim_id": claim_id if due else None,
        "spool": str(spool) if due else None,
        "reports": len(due),
        "held": held,
    }


def _remove_stale_spools(settings: Settings, live: set[str]) -> None:
    root = spool_root(settings)
    if root.is_dir():
        for path in root.iterdir():
            if path.is_dir() and path.name not in live:
                shutil.rmtree(path, ignore_errors=True)


def _take_over_expired(con: duckdb.DuckDBPyConnection, settings: Settings, now: dt.datetime) -> None:
    expired = [
        r[0]
        for r in con.execute(
            "select distinct claim_id from report_outbox where status = 'sending' and lease_until <= ?", [now]
        ).fetchall()
    ]
    for claim_id in expired:
        counts = _apply(con, spool_root(settings) / claim_id, claim_id, read_results(spool_root(settings) / claim_id))
        log.warning(
            "claim %s expired (its delivery run died): %d outcome(s) recovered from its spool, %d report(s) "
            "queued again; those may be sent again, with the same Idempotency-Key",
            claim_id, counts.total() - counts["released"], counts["released"],
        )  # fmt: skip


# -- recording ----------------------------------------------------------------------------


def _apply(con: duckdb.DuckDBPyConnection, spool: Path, claim_id: str, results: list[Result]) -> Counter:
    """Apply the outcomes of one claim in one transaction, then release what it did not try."""
    counts: Counter = Counter()
    with storage.transaction(con):
        for r in results:
            if r.outcome == "delivered":
                row = con.execute(
                    "select status, payload_sha256 from report_outbox where report_id = ?", [r.report_id]
                ).fetchone()
                if row is None or row[0] == "delivered":
                    continue
                if row[1] != r.sha256:
                    # Rebuilt while in flight: keep what the receiver got, which is now final.
                    sent = sent_payload(spool, r.report_id)
                    if sent is not None:
                        con.execute(
                            "update report_outbox set payload = ?, payload_sha256 = ? where report_id = ?",
                            [sent.decode("utf-8"), r.sha256, r.report_id],
                        )
                    log.warning("report %s was rebuilt while being sent; the sent payload is kept", r.report_id)
                con.execute(
                    "update report_outbox set status = 'delivered', delivered_at = ?, attempts = attempts + ?, "
                    "last_http_status = ?, last_error = null, claim_id = null, lease_until = null "
                    "where report_id = ?",
                    [r.at, r.attempts, r.http_status, r.report_id],
                )
            elif r.outcome in ("rejected", "retry"):
                con.execute(
                    "update report_outbox set status = ?, attempts = attempts + ?, last_http_status = ?, "
                    "last_error = ?, next_attempt_at = coalesce(?::timestamptz, next_attempt_at), "
                    "claim_id = null, lease_until = null "
                    "where report_id = ? and status = 'sending' and claim_id = ?",
                    [
                        "failed" if r.outcome == "rejected" else "pending",
                        r.attempts, r.http_status, r.error, r.next_attempt_at, r.report_id, claim_id,
                    ],
                )  # fmt: skip
            else:
                raise ValueError(f"unknown outcome {r.outcome!r} for report {r.report_id}")
            counts[r.outcome] += 1
        (counts["released"],) = con.execute(
            "select count(*) from report_outbox where claim_id = ? and status = 'sending'", [claim_id]
        ).fetchone()
        con.execute(
            "update report_outbox set status = 'pending', claim_id = null, lease_until = null "
            "where claim_id = ? and status = 'sending'",
            [claim_id],
        )
    return counts


def record(settings: Settings, claim_id: str | None) -> dict:
    """Apply the outcomes a delivery run left in its spool, release the reports it did not
    try, and remove the spool. Safe to run again (Airflow retry): outcomes apply once.

    Returns:
        ``{"delivered": n, "retry": n, "rejected": n, "released": n}``.

    Raises:
        DeliveryRejected: after recording, when any report is ``failed`` (this run's or an
            earlier one): its kind is blocked until an operator runs ``outbox retry`` or
            ``outbox discard``. The message holds each reason.
    """
    counts: Counter = Counter()
    con = storage.connect(settings.data_dir)
    try:
        if claim_id is not None:
            spool = spool_root(settings) / claim_id
            counts = _apply(con, spool, claim_id, read_results(spool))
        failed = con.execute(
            "select report_id, last_error from report_outbox where status = 'failed' "
            "order by kind, interval_start, interval_end, report_id"
        ).fetchall()
    finally:
        con.close()
    if claim_id is not None:
        shutil.rmtree(spool_root(settings) / claim_id, ignore_errors=True)
    summary = {k: counts[k] for k in ("delivered", "retry", "rejected", "released")}
    log.info("delivery recorded: %s", summary)
    if failed:
        lines = [f"report {rid} was refused by the reporting API: {error}" for rid, error in failed]
        lines.append(
            "A failed report holds back the later reports of its kind. Fix the cause, then run "
            "`python -m warehouse.cli outbox retry <report id>` (or `outbox discard <report id>` to give it up)."
        )
        raise DeliveryRejected("\n".join(lines), failed)
    return summary


# -- operator commands --------------------------------------------------------------------


def list_reports(
    con: duckdb.DuckDBPyConnection, *, status: str | None = None, kind: str | None = None, limit: int = 50
) -> list[dict]:
    """The newest ``limit`` reports (optionally of one status and kind), oldest first, no payloads."""
    rows = con.execute(
        "select * from (select report_id, kind, status, attempts, next_attempt_at, delivered_at, last_http_status, "
        "last_error, strlen(payload) as payload_bytes, interval_start, interval_end "
        "from report_outbox where (?::varchar is null or status = ?) and (?::varchar is null or kind = ?) "
        "order by interval_end desc, kind, report_id limit ?) order by interval_end, kind, report_id",
        [status, status, kind, kind, limit],
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def get_report(con: duckdb.DuckDBPyConnection, report_id: str) -> dict:
    """Every column of one report, payload included.

    Raises:
        OutboxError: no such report.
    """
    result = con.execute("select * from report_outbox where report_id = ?", [report_id])
    names = [d[0] for d in result.description]
    row = result.fetchone()
    if row is None:
        raise OutboxError(f"no report {report_id!r} in the outbox (see `python -m warehouse.cli outbox list`)")
    return dict(zip(names, row, strict=True))


def counts_by_status(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """Reports per (kind, status)."""
    rows = con.execute("select kind, status, count(*) from report_outbox group by all").fetchall()
    return {(kind, status): n for kind, status, n in rows}


def retry(con: duckdb.DuckDBPyConnection, report_id: str, *, now: dt.datetime) -> str:
    """Operator: send a ``failed`` (or ``discarded``) report again, at the next delivery run.

    The report becomes ``pending`` and due at ``now``; its attempts and last error are kept.
    Returns the previous status.

    Raises:
        OutboxError: no such report, or it is not failed or discarded.
    """
    return _operator_move(con, report_id, ("failed", "discarded"), "pending", now)


def discard(con: duckdb.DuckDBPyConnection, report_id: str, *, now: dt.datetime) -> str:
    """Operator: give up a ``failed`` or ``pending`` report; it is never sent and no longer
    holds back its kind. Returns the previous status.

    Raises:
        OutboxError: no such report, or it is delivered, discarded or being sent.
    """
    return _operator_move(con, report_id, ("failed", "pending"), "discarded", now)


def _operator_move(
    con: duckdb.DuckDBPyConnection, report_id: str, allowed: tuple[str, ...], target: str, now: dt.datetime
) -> str:
    row = con.execute("select status from report_outbox where report_id = ?", [report_id]).fetchone()
    if row is None:
        raise OutboxError(f"no report {report_id!r} in the outbox (see `python -m warehouse.cli outbox list`)")
    if row[0] not in allowed:
        raise OutboxError(f"report {report_id} is {row[0]}; only {' or '.join(allowed)} reports can become {target}")
    con.execute(
        "update report_outbox set status = ?, next_attempt_at = ? where report_id = ?", [target, now, report_id]
    )
    log.info("report %s: %s -> %s (operator)", report_id, row[0], target)
    return row[0]
