"""Deliver a built report: POST it to the reporting API, or drop it in the outbox folder.

With ``VISIT_TRACKING_ENABLED=true`` and ``VISIT_TRACKING_API`` set, the payload is POSTed
as JSON with httpx; connection errors, timeouts, 5xx and 429 are retried with exponential
backoff (tenacity), honouring ``Retry-After``. Any other 4xx is final. Otherwise the payload
is written to ``$FOOTFALL_DATA_DIR/outbox/``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import tenacity

from warehouse.report import write_atomic
from warehouse.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class DeliveryError(RuntimeError):
    """The reporting API refused a report (non-retryable status) or stayed unavailable."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _wait(retry_state: tenacity.RetryCallState) -> float:
    backoff = tenacity.wait_exponential_jitter(initial=0.5, max=30)(retry_state)
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, _Retryable) and exc.retry_after is not None:
        return max(exc.retry_after, backoff)
    return backoff


def post_report(settings: Settings, body: bytes, idempotency_key: str) -> int:
    """POST ``body`` (JSON) to ``VISIT_TRACKING_API``; returns the final HTTP status.

    Raises:
        DeliveryError: a non-retryable 4xx (the response body is in the message), or the
            last of ``report_attempts`` attempts failed.
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
            with httpx.Client(timeout=timeout) as client:
                response = client.post(settings.visit_tracking_api, content=body, headers=headers)
        except httpx.TransportError as exc:
            log.warning("report POST failed: %s; retrying", type(exc).__name__)
            raise _Retryable(type(exc).__name__) from exc
        if response.status_code in RETRYABLE_STATUS:
            log.warning("reporting API answered %d; retrying", response.status_code)
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code >= 400:
            raise DeliveryError(
                f"reporting API refused the report: HTTP {response.status_code}: {response.text[:2000]}"
            )
        return response.status_code

    try:
        return attempt()
    except _Retryable as exc:
        raise DeliveryError(f"reporting API unavailable after {settings.report_attempts} attempts: {exc}") from exc


def deliver(settings: Settings, report_path: Path) -> str:
    """Send the report at ``report_path`` (a file under ``reports/``).

    Returns:
        ``"posted"`` or the outbox path the report was written to.
    """
    report_path = Path(report_path)
    body = report_path.read_bytes()
    if settings.visit_tracking_enabled and settings.visit_tracking_api:
        status = post_report(settings, body, idempotency_key=report_path.stem)
        log.info("report %s delivered (HTTP %d)", report_path.name, status)
        return "posted"
    target = settings.outbox_dir / report_path.name
    write_atomic(target, body)
    log.info("reporting disabled; report written to %s", target)
    return str(target)
