"""Helpers for outbox and delivery tests: a controlled clock, a warehouse holding a real log,
settings built from an explicit environment, and reads of the outbox table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from warehouse.aggregation import aggregate
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import discover
from warehouse.settings import Settings

HALF_HOUR = dt.timedelta(minutes=30)


class FakeClock:
    """``clock()`` returns the controlled now; ``clock.sleep(s)`` moves it on instead of sleeping."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)

    def advance(self, **delta: float) -> FakeClock:
        self.now += dt.timedelta(**delta)
        return self


def ingest_log(data_dir: Path, secrets_dir: Path, log_path: Path, **env: str) -> None:
    """One ingest pass over ``log_path`` into ``data_dir``, as the ingest DAG runs it."""
    # Crawlers counted: the payload oracles read lines, they do not classify user agents.
    settings = make_settings(
        data_dir, secrets_dir, FOOTFALL_LOG_GLOB=str(log_path), FOOTFALL_COUNT_CRAWLERS="true", **env
    )
    plans = discover(settings)
    results = [parse_source(ParseJob.from_settings(settings), p, "test-ingest", dt.date(2026, 11, 21)) for p in plans]
    committed = commit(settings, results, "test-ingest", dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
    aggregate(settings, committed["days"])


def ingested_apache_logs(tmp_path_factory) -> Path:
    """A directory whose ``data/`` holds the real log ``apache_logs``, ingested once (copy it per test)."""
    from conftest import shared_log

    root = tmp_path_factory.mktemp("ingested")
    ingest_log(root / "data", root / "secrets", shared_log("apache_logs"))
    return root


def make_settings(data_dir: Path, secrets_dir: Path, **env: str) -> Settings:
    base = {
        "FOOTFALL_DATA_DIR": str(data_dir),
        "FOOTFALL_SECRETS_DIR": str(secrets_dir),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
    }
    return Settings.from_env({**base, **env})


def outbox_rows(settings: Settings) -> dict[str, dict]:
    """Every outbox row by report id (read-only; no payload column)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        result = con.execute(
            "select report_id, kind, status, attempts, next_attempt_at, last_error, last_http_status, "
            "claim_id, delivered_at, payload from report_outbox order by kind, interval_start"
        )
        names = [d[0] for d in result.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in result.fetchall()}
    finally:
        con.close()
