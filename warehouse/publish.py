"""Deliver a built report: POST it to the reporting API, or drop it in the outbox folder.

With ``VISIT_TRACKING_ENABLED=true`` and ``VISIT_TRACKING_API`` set, the payload is POSTed
as JSON with httpx. Connection errors, timeouts, 408, 429 and every 5xx are retried with
exponential backoff and jitter (tenacity), honouring ``Retry-After`` (seconds or HTTP date,
capped at :data:`MAX_WAIT_S`). Any other status outside 2xx, redirects included, is final
and raises :class:`DeliveryRejected`. Without reporting configured, the payload is written to
``$FOOTFALL_DATA_DIR/outbox/``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from pathlib import Path

import httpx
import tenacity

from warehouse.report import write_atomic
from warehouse.settings import Settings

log = logging.getLogger(__name__)

MAX_WAIT_S = 300.0


class DeliveryError(RuntimeError):
    """The reporting API stayed unavailable for every attempt (worth retrying later)."""


class DeliveryRejected(DeliveryError):
    """The reporting API answered with a final status (a 4xx other than 408/429, or a 3xx):
    sending the same report again cannot succeed. The message holds the response body."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _is_retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header (RFC 9110 section 10.2.3): delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def _wait(retry_state: tenacity.RetryCallState) -> float:
    backoff = tenacity.wait_exponential_jitter(multiplier=0.5, max=30)(retry_state)
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, _Retryable) and exc.retry_after is not None:
        return min(MAX_WAIT_S, max(exc.retry_after, backoff))
    return backoff


def post_report(settings: Settings, body: bytes, idempotency_key: str) -> int:
    """POST ``body`` (JSON) to ``VISIT_TRACKING_API``; returns the 2xx status received.

    Every attempt carries the same ``Idempotency-Key``, so a receiver can drop repeats.

    Raises:
        DeliveryRejected: a final status (response body in the message).
        DeliveryError: all ``report_attempts`` attempts hit retryable failures.
    """
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if settings.visit_tracking_api_token:
        headers["Authorization"] = f"Bearer {settings.visit_tracking_api_token}"
    timeout = httpx.Timeout(settings.report_timeout_s)

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type(_Retryable),
        wait=_wait,
        stop=tenacity.stop_after_attempt(settings.report_attempts),
        reraise=True,
    )
    def attempt() -> int:
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.post(settings.visit_tracking_api, content=body, headers=headers)
        except httpx.TransportError as exc:
            log.warning("report %s: POST failed (%s); retrying", idempotency_key, type(exc).__name__)
            raise _Retryable(type(exc).__name__) from exc
        status = response.status_code
        if _is_retryable(status):
            log.warning("report %s: reporting API answered %d; retrying", idempotency_key, status)
            raise _Retryable(f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After")))
        if not 200 <= status < 300:
            raise DeliveryRejected(
                f"reporting API refused report {idempotency_key}: HTTP {status}: {response.text[:2000]}"
            )
        return status

    try:
        return attempt()
    except _Retryable as exc:
        raise DeliveryError(f"reporting API unavailable after {settings.report_attempts} attempts: {exc}") from exc


def deliver(settings: Settings, report_path: Path) -> str:
    """Send the report at ``report_path`` (a file under ``reports/``).

    Returns:
        ``"posted"``, or the outbox path the report was written to when reporting is off.

    Raises:
        ConfigError: reporting is enabled without a usable URL.
        DeliveryRejected, DeliveryError: see :func:`post_report`.
    """
    report_path = Path(report_path)
    body = report_path.read_bytes()
    if settings.visit_tracking_enabled:
        settings.check_reporting()
        status = post_report(settings, body, idempotency_key=report_path.stem)
        log.info("report %s delivered (HTTP %d)", report_path.name, status)
        return "posted"
    target = settings.outbox_dir / report_path.name
    write_atomic(target, body)
    log.info("reporting disabled; report written to %s", target)
    return str(target)
