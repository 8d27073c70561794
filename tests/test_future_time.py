"""Time from the clock, not from the data: a line dated in the future is quarantined, counted,
and never decides which report interval is built or waited for."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import REPO, shared_log
from oracle import is_page_view, read_hits
from parser_check import assert_matches_oracle

from warehouse import ingest
from warehouse.cli import last_interval_end
from warehouse.report import ingested_through_end
from warehouse.settings import Settings

# One clock-skewed or hostile line, dated 2099.
FUTURE_LINE = b'203.0.113.17 - - [31/Dec/2099:23:59:59 +0000] "GET /future HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
NOW = dt.datetime(2026, 12, 5, 9, 40, tzinfo=dt.UTC)
DAY = dt.timedelta(seconds=86400)  # FOOTFALL_FUTURE_TOLERANCE_S's default


def line_at(moment: dt.datetime, path: str) -> bytes:
    return (
        f'198.51.100.7 - - [{moment:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" 200 5 "-" "Mozilla/5.0"\n'
    ).encode()


def ingest_at(now: dt.datetime, run_id: str = "run-1") -> dict:
    """One ingest pass (discover, parse, commit, aggregate) read at ``now``; its data interval
    ends at ``now`` too, as a manual run's does."""
    settings = Settings.from_env()
    results = [ingest.parse_source(settings, u, run_id, now.date(), now=now) for u in ingest.discover(settings)]
    committed = ingest.commit(settings, results, run_id, now)
    ingest.aggregate(settings, committed["days"])
    return committed


def test_a_line_dated_after_the_tolerance_is_quarantined_as_future_time():
    limit = NOW + DAY
    data = (
        line_at(limit, "/at-the-limit")
        + line_at(limit + dt.timedelta(seconds=1), "/a-second-later")
        + FUTURE_LINE
        + line_at(NOW - dt.timedelta(days=400), "/last-year")
    )
    chunk = assert_matches_oracle(data, not_after=limit)
    assert sorted(chunk.events.decode().get_column("path").to_list()) == ["/at-the-limit", "/last-year"]
    assert chunk.quarantine.sort("line_number").select("line_number", "reason").rows() == [
        (2, "future_time"),
        (3, "future_time"),
    ]
    # The tokenizer decides that itself: no line took the slow path.
    assert chunk.slow_lines == 0


@pytest.mark.real_logs
def test_a_future_line_is_counted_and_never_picks_the_report_interval(footfall_env, tmp_path):
    real = shared_log("apache_logs").read_bytes().splitlines(keepends=True)[:300]
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(real) + FUTURE_LINE)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))

    committed = ingest_at(NOW)
    assert (committed["lines_read"], committed["lines_parsed"], committed["lines_quarantined"]) == (301, 300, 1)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        quality = con.execute("select quarantine_reasons from data_quality").fetchone()[0]
        quarantined = con.execute("select line_number, reason from quarantine").fetchall()
        (newest,) = con.execute("select max(ts) from events").fetchone()
    finally:
        con.close()
    assert quality == {"future_time": 1}
    assert quarantined == [(301, "future_time")]
    newest_real = max(h.ts for h in read_hits(log) if h.ts.year < 2099)
    assert newest == newest_real
    # The report interval is the one holding the newest real line.
    assert last_interval_end(Settings.from_env(), NOW) == dt.datetime(2015, 5, 17, 12, 30, tzinfo=dt.UTC)
    assert newest_real < dt.datetime(2015, 5, 17, 12, 30, tzinfo=dt.UTC) <= newest_real + dt.timedelta(minutes=30)


def test_the_report_interval_never_ends_after_the_clock(footfall_env, tmp_path):
    # A line within the tolerance (a server clock 40 minutes fast) is an event, but the interval
    # holding it has not ended: the report interval is the last one that has.
    log = tmp_path / "access.log"
    log.write_bytes(
        line_at(NOW - dt.timedelta(hours=3), "/earlier") + line_at(NOW + dt.timedelta(minutes=40), "/ahead")
    )
    footfall_env(FOOTFALL_LOG_GLOB=str(log))
    ingest_at(NOW)
    assert last_interval_end(Settings.from_env(), NOW) == dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
    # ... and not after the last ingest run either, which the report sensor waits for.
    assert last_interval_end(Settings.from_env(), NOW + dt.timedelta(hours=2)) == dt.datetime(
        2026, 12, 5, 9, 30, tzinfo=dt.UTC
    )


@pytest.mark.slow
def test_a_report_sensor_refuses_at_once_an_interval_that_cannot_end(dagbag, footfall_env):
    footfall_env()
    settings = Settings.from_env()
    from warehouse.clock import IntervalInFuture

    with pytest.raises(IntervalInFuture, match="FOOTFALL_FUTURE_TOLERANCE_S=86400"):
        ingested_through_end(settings, dt.datetime(2100, 1, 1, tzinfo=dt.UTC), NOW)
    # Within the tolerance it is only not ingested yet: the sensor waits.
    assert ingested_through_end(settings, NOW + dt.timedelta(hours=1), NOW) is False

    started = time.monotonic()
    run = dagbag.get_dag("footfall_report").test(logical_date=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert time.monotonic() - started < 60
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["wait_for_ingest"] == "failed", states


@pytest.mark.slow
@pytest.mark.real_logs
def test_make_run_path_with_a_line_dated_2099_builds_the_report_of_the_real_traffic(airflow_db, tmp_path):
    """bin/run-pipeline, as `make run` runs it, on 300 real lines and one line dated 2099."""
    real = shared_log("apache_logs").read_bytes().splitlines(keepends=True)[:300]
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(real) + FUTURE_LINE)
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "FOOTFALL_LOG_GLOB": str(log),
        "FOOTFALL_DATA_DIR": str(data_dir),
        "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        # The oracle reads lines, it does not classify user agents.
        "FOOTFALL_COUNT_CRAWLERS": "true",
    }
    started = time.monotonic()
    # Its own process group: before the fix the report's sensor waited up to 2 hours for an
    # interval ending in 2100, and the whole pipeline (airflow included) must go at the timeout.
    pipeline = subprocess.Popen(
        [str(REPO / "bin" / "run-pipeline")], env=env, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = pipeline.communicate(timeout=300)  # about 30 s on an idle machine
    except subprocess.TimeoutExpired:
        os.killpg(pipeline.pid, signal.SIGKILL)
        pipeline.communicate()
        pytest.fail(f"bin/run-pipeline still running after {time.monotonic() - started:.0f} s")
    assert pipeline.returncode == 0, stdout[-3000:] + stderr[-3000:]
    done = subprocess.CompletedProcess(pipeline.args, pipeline.returncode, stdout, stderr)

    end = dt.datetime(2015, 5, 17, 12, 30, tzinfo=dt.UTC)
    assert f"footfall_report {end.isoformat()}" in done.stdout
    outbox = sorted(p.name for p in (data_dir / "outbox").glob("*.json"))
    assert outbox == ["visits-20150517T120000Z-20150517T123000Z.json"]
    payload = json.loads((data_dir / "outbox" / outbox[0]).read_bytes())
    start = end - dt.timedelta(minutes=30)
    views = [h for h in read_hits(log) if start <= h.ts < end and is_page_view(h)]
    assert payload["data"]["2015-05-17 12"]["count"] == len(views) > 0
    assert "future_time" in done.stdout  # the summary lists the quarantine reason
    quarantine = pl.read_parquet(next((data_dir / "quarantine").rglob("*.parquet")))
    assert quarantine.select("reason", "line").rows() == [
        ("future_time", '<address> - - [31/Dec/2099:23:59:59 +0000] "GET /future HTTP/1.1" 200 512 "-" "Mozilla/5.0"')
    ]
