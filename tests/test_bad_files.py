"""A bad file never blocks the others, and its readable lines count.

Real files under real Airflow runs: a ``.gz`` cut short (as a full disk or an interrupted copy
leaves it) beside a good log, a ``.gz`` corrupt from its start, a file that is not text. What a
damaged ``.gz`` still holds is measured with ``gzip -dc`` (GNU gzip: an independent decoder), not
with footfall's reader.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import os
import random
import subprocess
import time

import pytest
from conftest import shared_log
from test_ingest_map import ingest_once
from warehouse_queries import query

from warehouse.progress import ParseProgress

INGEST = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


def idle(*paths) -> None:
    """Last modified two hours ago: nothing is writing them any more."""
    then = time.time() - 7200
    for path in paths:
        os.utime(path, (then, then))


def complete_lines_gzip_reads(path) -> int:
    """Whole lines GNU gzip decompresses from ``path`` before it gives up on the damage."""
    done = subprocess.run(["gzip", "-dc", str(path)], capture_output=True)
    assert done.returncode != 0, "the file was expected to be damaged"
    return done.stdout.count(b"\n")


def run_dag(dagbag, dag_id: str, logical_date: dt.datetime):
    dag = dagbag.get_dag(dag_id)
    retries = {t.task_id: t.retries for t in dag.tasks}
    for t in dag.tasks:
        t.retries = 0  # a failure here is a test failure: no retry delays
    try:
        return dag.test(logical_date=logical_date)
    finally:
        for t in dag.tasks:
            t.retries = retries[t.task_id]


@pytest.mark.slow
@pytest.mark.real_logs
def test_a_truncated_gz_beside_a_good_log_keeps_its_lines_and_the_runs_go_on(dagbag, footfall_env, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    good = logs / "access.log"
    good.write_bytes(shared_log("apache_logs").read_bytes())
    compressed = shared_log("wordpress_access3.log.gz").read_bytes()
    truncated = logs / "access.log.2.gz"
    truncated.write_bytes(compressed[: len(compressed) // 3])
    idle(good, truncated)
    readable = complete_lines_gzip_reads(truncated)
    assert 50_000 < readable < 206_860
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"), FOOTFALL_TIMEZONE="UTC")

    run = run_dag(dagbag, "footfall_ingest", INGEST)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]

    # The good log in full, the truncated one up to its damage, the damage as one entry.
    assert query(data_dir, "select count(*) from events") == [(10_000 + readable,)]
    assert query(data_dir, "select sum(hits) from daily_traffic") == [(10_000 + readable,)]
    assert query(data_dir, "select reason, line_number, source_path from quarantine") == [
        ("gzip_truncated", readable + 1, str(truncated))
    ]
    quality = query(
        data_dir,
        "select lines_read, lines_parsed, lines_quarantined, quarantine_reasons from data_quality"
        " where source_path = ? ",
        [str(truncated)],
    )
    assert quality == [(readable + 1, readable, 1, {"gzip_truncated": 1})]

    # Reports go on: the interval of the good log's busiest half hour is built.
    report = run_dag(dagbag, "footfall_report", dt.datetime(2015, 5, 19, 14, 30, tzinfo=dt.UTC))
    assert report.state == "success"
    assert (data_dir / "outbox" / "visits-20150519T140000Z-20150519T143000Z.json").exists()

    # The next run is green and reads nothing again: the damaged file is not retried forever.
    again = run_dag(dagbag, "footfall_ingest", INGEST + dt.timedelta(minutes=30))
    assert again.state == "success"
    assert query(data_dir, "select count(*), sum(lines_read) from ingest_runs") == [(2, 10_001 + readable)]
    assert query(data_dir, "select count(*) from data_quality") == [(2,)]


@pytest.mark.real_logs
def test_a_gz_corrupt_from_its_start_is_recorded_once(footfall_env, tmp_path, nginx_lines):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_bytes(b"".join(nginx_lines))
    whole = gzip.compress(b"".join(nginx_lines[:500]))
    broken = logs / "access.log.1.gz"
    broken.write_bytes(whole[:10] + bytes(b ^ 0x5A for b in whole[10:200]) + whole[200:])
    idle(logs / "access.log", broken)
    assert complete_lines_gzip_reads(broken) == 0
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"))

    assert ingest_once("run-1")["lines_parsed"] == len(nginx_lines)
    assert query(data_dir, "select reason, source_path from quarantine") == [("gzip_corrupt", str(broken))]
    assert ingest_once("run-2")["lines_read"] == 0


@pytest.mark.real_logs
def test_a_gz_still_being_written_is_read_on_once_complete(footfall_env, tmp_path, nginx_lines):
    """A .gz modified minutes ago that ends early is probably being compressed: no damage is
    recorded, and the rest is read once the file is complete."""
    logs = tmp_path / "logs"
    logs.mkdir()
    whole = gzip.compress(b"".join(nginx_lines))
    growing = logs / "access.log.1.gz"
    growing.write_bytes(whole[: len(whole) // 2])
    readable = complete_lines_gzip_reads(growing)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"))

    assert ingest_once("run-1")["lines_read"] == readable
    assert query(data_dir, "select count(*) from quarantine") == [(0,)]
    growing.write_bytes(whole)  # compression finished
    assert ingest_once("run-2")["lines_read"] == len(nginx_lines) - readable
    assert query(data_dir, "select count(*), count(distinct line_number) from events") == [
        (len(nginx_lines), len(nginx_lines))
    ]
    assert query(data_dir, "select count(*) from quarantine") == [(0,)]


@pytest.mark.real_logs
def test_a_file_that_is_not_text_is_rejected_once_with_its_reason(footfall_env, tmp_path, nginx_lines, caplog):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_bytes(b"".join(nginx_lines[:1000]))
    picture = logs / "logo.png"
    picture.write_bytes(bytes(random.Random(7).randrange(256) for _ in range(50_000)))
    idle(logs / "access.log", picture)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"))

    with caplog.at_level(logging.WARNING, logger="warehouse.ingest"):
        committed = ingest_once("run-1")
    assert (committed["lines_read"], committed["lines_parsed"], committed["lines_quarantined"]) == (1001, 1000, 1)
    assert f"{picture} is not parsed: it is not text" in caplog.text
    assert query(data_dir, "select reason, line from quarantine") == [("not_text", "")]
    assert query(data_dir, "select committed_offset from ingest_sources where path = ?", [str(picture)]) == [(50_000,)]
    assert ingest_once("run-2")["lines_read"] == 0  # not read again
    assert query(data_dir, "select count(*) from data_quality") == [(2,)]


@pytest.fixture
def nginx_lines() -> list[bytes]:
    return shared_log("nginx_logs").read_bytes().splitlines(keepends=True)[:6000]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_at_most_every_interval_with_rate_and_time_left(caplog):
    clock, fraction = FakeClock(), [0.0]
    progress = ParseProgress("access.log", lambda: fraction[0], clock=clock, interval=5)
    with caplog.at_level(logging.INFO, logger="warehouse.progress"):
        for second in range(1, 13):  # 1,000 lines a second, a tenth of the unit every second
            clock.now += 1
            fraction[0] = second / 10 if second < 10 else 1.0
            progress.update(second * 1000)
        progress.finish(12_000)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "parse progress: access.log: 5,000 lines read, 1,000 lines/s, 50% of the unit, about 5 s left",
        "parse progress: access.log: 10,000 lines read, 1,000 lines/s, 100% of the unit, about 0 s left",
        "parse progress: access.log: 12,000 lines read, 1,000 lines/s, done",
    ]


@pytest.mark.real_logs
def test_a_parse_logs_its_progress_per_work_unit(footfall_env, tmp_path, nginx_lines, caplog, monkeypatch):
    from warehouse import progress

    log = tmp_path / "access.log"
    log.write_bytes(b"".join(nginx_lines))
    idle(log)
    footfall_env(FOOTFALL_LOG_GLOB=str(log), FOOTFALL_CHUNK_BYTES="65536")
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)  # every chunk, for the test
    with caplog.at_level(logging.INFO, logger="warehouse.progress"):
        ingest_once("run-1")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) > 5  # one per chunk of 64 KiB, then the end
    assert lines[-1].startswith(f"parse progress: access.log: {len(nginx_lines):,} lines read, ")
    assert lines[-1].endswith(" lines/s, done")
    assert all("lines/s" in line and "% of the unit, about " in line for line in lines[:-1])
