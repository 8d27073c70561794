"""Send claimed reports to the reporting API: signed, idempotent POSTs with backoff.

:func:`send_claim` works from a spool written by ``warehouse.reporting.outbox.claim`` and never opens
the warehouse, so it can wait on a slow or absent API without holding the DuckDB file.
For each claimed report, in order:

- POST the payload bytes with ``Idempotency-Key: <report id>``, the bearer token when one
  is set and, with a signing secret, ``Footfall-Signature: t=<unix time>,sha256=<hex HMAC>``
  over ``<unix time>.<body>``. Connect and read timeouts apply to every request.
- 2xx: delivered. A 4xx other than 408 and 429, or a 1xx/3xx (redirects are not followed):
  rejected, final, with the response body kept. Connection errors, timeouts, 408, 429 and 5xx:
  retried after an exponential backoff with jitter, at least the ``Retry-After`` the API asked
  for. Short waits are slept in the task (up to ``report_attempts`` tries); a longer wait ends
  the report's turn and becomes its ``next_attempt_at`` in the outbox.
- Once a report of a kind is not delivered, the later reports of that kind are not tried in
  this run, so the receiver sees each kind's intervals in order.

Each outcome is appended to the spool's ``results.jsonl`` before the next POST, for
``warehouse.reporting.outbox.record``. Nothing here logs a header, the token or the signing secret.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from warehouse.reporting import outbox
from warehouse.reporting.spool import Result, append_result, load_manifest, read_results
from warehouse.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 1.0
# Waits up to this long happen inside the delivery task; longer ones are scheduled instead.
MAX_INLINE_WAIT_S = 30.0
# A Retry-After asking for longer than this is honoured up to this.
MAX_RETRY_AFTER_S = 6 * 3600.0
MAX_BODY_BYTES = 8192
SIGNATURE_HEADER = "Footfall-Signature"
KIND_HEADER = "Footfall-Report-Kind"
USER_AGENT = "footfall-reporting/1"

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """Parse a ``Retry-After`` header (RFC 9110 section 10.2.3): delay-seconds or an HTTP date.

    Returns seconds from ``now`` (0 for a date in the past), or None when absent or malformed.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" in an HTTP date means UTC
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_seconds(attempt: int, max_backoff_s: float, rng: random.Random) -> float:
    """Wait after the ``attempt``-th failed attempt of a report (1-based, over all runs).

    Exponential with "equal jitter": ``d = min(max_backoff_s, 1 s * 2^(attempt-1))``, then a
    uniform draw in ``[d/2, d]``. Attempts 1, 2, 3, 4 wait 0.5-1, 1-2, 2-4, 4-8 s.
    """
    d = min(max_backoff_s, BACKOFF_BASE_S * 2.0 ** min(attempt - 1, 62))
    return d / 2 + rng.uniform(0, d / 2)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` keyed with the UTF-8 bytes of ``secret``."""
    return hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def request_headers(settings: Settings, report_id: str, kind: str, body: bytes, now: dt.datetime) -> dict[str, str]:
    """The headers of one POST of a report (secrets included: never log them)."""
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": report_id,
        KIND_HEADER: kind,
        "User-Agent": USER_AGENT,
    }
    if settings.visit_tracking_api_token:
        headers["Authorization"] = f"Bearer {settings.visit_tracking_api_token}"
    if settings.visit_tracking_signing_secret:
        ts = int(now.timestamp())
        headers[SIGNATURE_HEADER] = f"t={ts},sha256={sign(settings.visit_tracking_signing_secret, ts, body)}"
    return headers


def safe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of a URL: no credentials and no query string, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def redact(text: str, settings: Settings) -> str:
    """``text`` with the token and signing secret blanked (a receiver may echo a header back)."""
    for secret in (settings.visit_tracking_api_token, settings.visit_tracking_signing_secret):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


@dataclass(frozen=True)
class Attempt:
    """One POST: ``kind`` is ``ok``, ``retry`` or ``final``."""

    kind: str
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def post_once(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], now: dt.datetime) -> Attempt:
    """POST once and classify the outcome; reads at most :data:`MAX_BODY_BYTES` of the response."""
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
            if 200 <= status < 300:
                return Attempt("ok", status)
            text = _read_some(response)
    except httpx.TransportError as exc:
        return Attempt("retry", None, f"{type(exc).__name__}: {exc}"[:200])
    reason = f"HTTP {status}: {text}"[: outbox.MAX_ERROR_CHARS]
    if status in (408, 429) or status >= 500:
        return Attempt("retry", status, reason, retry_after_seconds(response.headers.get("Retry-After"), now))
    return Attempt("final", status, reason)


def _read_some(response: httpx.Response) -> str:
    data = bytearray()
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= MAX_BODY_BYTES:
                break
    except httpx.TransportError:
        pass  # the status says enough
    return bytes(data[:MAX_BODY_BYTES]).decode("utf-8", errors="replace")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def send_report(
    settings: Settings,
    client: httpx.Client,
    entry: dict,
    body: bytes,
    *,
    send_until: dt.datetime,
    clock: Clock,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> Result:
    """Try one claimed report up to ``report_attempts`` times; returns its outcome.

    ``entry`` is its line of the claim manifest (``report_id``, ``kind``, ``attempts`` before
    this run). Waits of at most :data:`MAX_INLINE_WAIT_S` that end before ``send_until`` are
    slept with ``sleep``; otherwise the outcome is ``retry`` with the time to try again.
    """
    rid, kind = entry["report_id"], entry["kind"]
    url = settings.report_endpoint(kind)
    digest = outbox.sha256_hex(body)
    for i in range(1, settings.report_attempts + 1):
        now = clock()
        attempt = post_once(client, url, body, request_headers(settings, rid, kind, body, now), now)
        done = clock()
        if attempt.kind == "ok":
            log.info("report %s delivered to %s (HTTP %d, attempt %d)", rid, safe_url(url), attempt.status, i)
            return Result(rid, "delivered", i, _iso(done), digest, attempt.status)
        error = redact(attempt.error or "", settings)
        if attempt.kind == "final":
            log.error("report %s refused by %s: %s", rid, safe_url(url), error)
            return Result(rid, "rejected", i, _iso(done), digest, attempt.status, error)
        wait = backoff_seconds(entry["attempts"] + i, settings.report_max_backoff_s, rng)
        if attempt.retry_after is not None:
            wait = max(wait, min(attempt.retry_after, MAX_RETRY_AFTER_S))
        if (
            i < settings.report_attempts
            and wait <= MAX_INLINE_WAIT_S
            and done + dt.timedelta(seconds=wait) < send_until
        ):
            log.warning("report %s: attempt %d failed (%s); retrying in %.1f s", rid, i, error, wait)
            sleep(wait)
            continue
        next_at = done + dt.timedelta(seconds=wait)
        log.warning("report %s: attempt %d failed (%s); next attempt after %s", rid, i, error, _iso(next_at))
        return Result(rid, "retry", i, _iso(done), digest, attempt.status, error, _iso(next_at))
    raise AssertionError("unreachable: the loop returns")


def send_claim(
    settings: Settings,
    spool: str | Path | None,
    *,
    clock: Clock = _utcnow,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict:
    """POST the reports of one claim (``warehouse.reporting.outbox.claim``), appending each outcome to
    its spool; never opens the warehouse.

    Safe to run again on the same spool (an Airflow retry): reports with an outcome already
    recorded are not sent again, and a kind with a failure stays held back.

    Returns:
        Counts: ``{"delivered", "retry", "rejected", "not_tried"}``.
    """
    counts = Counter({"delivered": 0, "retry": 0, "rejected": 0, "not_tried": 0})
    if spool is None:
        return dict(counts)
    spool = Path(spool)
    manifest = load_manifest(spool)
    send_until = dt.datetime.fromisoformat(manifest["send_until"])
    done = {r.report_id: r for r in read_results(spool)}
    held = {
        e["kind"] for e in manifest["reports"] if e["report_id"] in done and done[e["report_id"]].outcome != "delivered"
    }
    rng = rng or random.Random()
    # httpx logs every request with its full URL at INFO; a URL can carry credentials, and
    # send_report logs each outcome itself with safe_url().
    logging.getLogger("httpx").setLevel(logging.WARNING)
    timeout = httpx.Timeout(settings.report_timeout_s, connect=settings.report_connect_timeout_s)
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        for entry in manifest["reports"]:
            if entry["report_id"] in done:
                continue
            if entry["kind"] in held or clock() >= send_until:
                counts["not_tried"] += 1
                continue
            body = (spool / entry["file"]).read_bytes()
            result = send_report(
                settings, client, entry, body, send_until=send_until, clock=clock, sleep=sleep, rng=rng
            )
            append_result(spool, result)
            counts[result.outcome] += 1
            if result.outcome != "delivered":
                held.add(entry["kind"])
    log.info("delivery run: %s", dict(counts))
    return dict(counts)


def deliver_due(
    settings: Settings,
    *,
    clock: Clock = _utcnow,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> dict:
    """One whole delivery run in this process: claim, send, record (what the delivery DAG
    does in three tasks). The warehouse is open only while claiming and recording.

    Returns the record summary; raises ``outbox.DeliveryRejected`` like ``outbox.record``.
    """
    claimed = outbox.claim(settings, now=clock())
    try:
        send_claim(settings, claimed["spool"], clock=clock, sleep=sleep, rng=rng)
    finally:
        summary = outbox.record(settings, claimed["claim_id"])
    return summary
