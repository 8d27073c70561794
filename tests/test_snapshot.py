"""Published snapshots: readers never block the pipeline, the pipeline never breaks a reader.

Readers are real processes (tests/snapshot_probe.py), because DuckDB's locks are per process:
a reader in the test's own process would prove nothing about an analyst's session. The
pipeline runs under real Airflow (``dag.test``) or through its functions.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, shared_log

from warehouse import ingest, snapshot, storage
from warehouse.settings import Settings

PROBE = str(REPO / "tests" / "snapshot_probe.py")
INGEST_DATE = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
REPORT_END = dt.datetime(2015, 5, 19, 14, 30, tzinfo=dt.UTC)
RETENTION_DATE = dt.datetime(2015, 6, 20, tzinfo=dt.UTC)  # every day of apache_logs past 7 and 30 days


class Holder:
    """An analyst's session: a process holding one read-only connection open."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, PROBE, "hold", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "open"

    def ask(self, sql: str):
        self.process.stdin.write(sql.replace("\n", " ") + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        assert "error" not in answer, answer["error"]
        return answer["rows"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def env_for(root: Path) -> dict[str, str]:
    return {
        "FOOTFALL_DATA_DIR": str(root / "data"),
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        "FOOTFALL_LOG_GLOB": str(root / "logs" / "*.log"),
    }


def ingest_log(settings: Settings, run_id: str) -> None:
    """One ingest pass through the functions the DAG's tasks call (it publishes a snapshot)."""
    plans = ingest.discover(settings)
    results = [ingest.parse_source(settings, p, run_id, INGEST_DATE.date()) for p in plans]
    committed = ingest.commit(settings, results, run_id, INGEST_DATE)
    ingest.aggregate(settings, committed["days"])


@pytest.fixture
def small(tmp_path) -> Settings:
    """A data dir with the first 3,000 lines of apache_logs ingested and published."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "apache.log").write_bytes(b"".join(lines_of(shared_log("apache_logs"))[:3000]))
    settings = Settings.from_env(env_for(tmp_path))
    ingest_log(settings, "ingest-1")
    return settings


def generations_on_disk(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "snapshots").iterdir())


@pytest.mark.slow
@pytest.mark.real_logs
def test_duckdb_holds_a_lock_for_every_open_connection_read_only_included(small):
    """The fact the publisher relies on to tell a generation in use, checked on this DuckDB."""
    path = snapshot.snapshot_path(small.data_dir)

    def exclusive_lock_possible() -> bool:
        done = subprocess.run(
            [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
             "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(path)],
            capture_output=True,
        )  # fmt: skip
        return done.returncode == 0

    assert exclusive_lock_possible()
    holder = Holder(path)
    try:
        assert not exclusive_lock_possible()
        assert holder.ask("select count(*) from events") == [[3000]]
    finally:
        holder.close()
    assert exclusive_lock_possible()
    assert hasattr(fcntl, "lockf")


@pytest.mark.real_logs
def test_a_snapshot_is_complete_and_says_what_it_holds(small):
    con = snapshot.connect(small.data_dir)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert set(snapshot.snapshot_tables()) | {"snapshot_info", *snapshot.MATERIALIZED_VIEWS} == tables
        views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        assert {"events", "quarantine", "community_daily", "visitor_stats_7d", "goaccess_daily"} <= views
        (info,) = con.execute("select * from snapshot_info").fetchall()
        names = [d[0] for d in con.description]
        info = dict(zip(names, info, strict=True))
        assert con.execute("select count(*) from events").fetchone() == (3000,)
        assert con.execute("select count(*) from page_views_local(['2015-05-17'::date], 'UTC', false)").fetchone()[0]
    finally:
        con.close()
    newest = max(dt.datetime.strptime(line.split(b"[")[1][:26].decode(), "%d/%b/%Y:%H:%M:%S %z")
                 for line in lines_of(shared_log("apache_logs"))[:3000])  # fmt: skip
    assert info["data_as_of"] == newest
    assert info["ingest_run_id"] == "ingest-1" and info["published_by"] == "ingest"
    assert info["generation"] == 1 and info["timezone"] == "UTC" and info["newest_day"] == newest.date()


@pytest.mark.slow
@pytest.mark.real_logs
def test_readers_do_not_block_the_writer_and_the_writer_does_not_block_readers(small):
    """An analyst's session on analytics.duckdb while a task writes warehouse.duckdb, and the CLI's
    read commands while a task holds the warehouse."""
    holder = Holder(snapshot.snapshot_path(small.data_dir))
    try:
        con = storage.connect(small.data_dir)  # what every pipeline task opens
        try:
            info = snapshot.publish(con, small, "publish")
            env = {**os.environ, **env_for(small.data_dir.parent)}
            query = [sys.executable, "-m", "warehouse.cli", "query", "select count(*) from events"]
            done = subprocess.run(query, cwd=REPO, env=env, capture_output=True, text=True)
            assert done.returncode == 0 and "3000" in done.stdout, done.stderr
        finally:
            con.close()
        assert info.generation == 2
        assert holder.ask("select generation from snapshot_info") == [[1]]
    finally:
        holder.close()


@pytest.mark.slow
@pytest.mark.real_logs
def test_an_old_generation_goes_once_no_reader_holds_it(small):
    data_dir = small.data_dir
    holder = Holder(snapshot.snapshot_path(data_dir))
    con = storage.connect(data_dir)
    try:
        snapshot.publish(con, small, "publish", settle_s=0)
        snapshot.publish(con, small, "publish", settle_s=0)
        # Generation 1 is held; 2 was nobody's and went when 3 was published.
        assert generations_on_disk(data_dir) == ["analytics-000001.duckdb", "analytics-000003.duckdb"]
        assert holder.ask("select generation, (select count(*) from events) from snapshot_info") == [[1, 3000]]
        holder.close()
        snapshot.publish(con, small, "publish", settle_s=0)
        assert generations_on_disk(data_dir) == ["analytics-000004.duckdb"]
        assert con.execute("select generation from snapshot_generations").fetchall() == [(4,)]
        assert con.execute("select distinct generation from snapshot_files").fetchall() == [(4,)]
    finally:
        con.close()
        if holder.process.poll() is None:
            holder.close()


def test_the_definitions_version_changes_with_a_metric(tmp_path, monkeypatch):
    before = snapshot.definitions_version()
    models = tmp_path / "sql"
    models.mkdir()
    for path in storage.MODELS_DIR.glob("*.sql"):
        (models / path.name).write_text(path.read_text())
    (models / "page_daily.sql").write_text((models / "page_daily.sql").read_text().replace("count(*)", "count(1)"))
    monkeypatch.setattr(storage, "MODELS_DIR", models)
    snapshot.definitions_version.cache_clear()
    try:
        assert snapshot.definitions_version() != before
    finally:
        monkeypatch.undo()
        snapshot.definitions_version.cache_clear()
    assert snapshot.definitions_version() == before


def test_nothing_published_says_how_to_publish(tmp_path):
    with pytest.raises(FileNotFoundError, match="warehouse.cli publish"):
        snapshot.connect(tmp_path)


def run_dag(dagbag, dag_id: str, logical_date: dt.datetime):
    run = dagbag.get_dag(dag_id).test(logical_date=logical_date)
    # dag.test() does not raise when a task fails: the run's state says.
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert set(states.values()) <= {"success", "skipped"}, states
    return run


@pytest.mark.slow
@pytest.mark.real_logs
def test_a_session_held_open_across_ingest_report_and_retention(dagbag, tmp_path, monkeypatch):
    """The analyst's session of the issue: held on analytics.duckdb for a whole ingest + report +
    retention run under Airflow. Every task succeeds, the session keeps answering from its
    snapshot (retention defers deleting the files it reads), a new session sees the new data,
    and a reader that opens the stable path over and over meanwhile always gets a whole snapshot."""
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    # Daily aggregates are kept forever by default; here retention rolls them up, too.
    monkeypatch.setenv("FOOTFALL_RETENTION_AGGREGATES_DAYS", "30")
    data_dir = tmp_path / "data"
    lines = lines_of(shared_log("apache_logs"))
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "apache.log"
    log.write_bytes(b"".join(lines[:6000]))
    run_dag(dagbag, "footfall_ingest", INGEST_DATE)

    stable = snapshot.snapshot_path(data_dir)
    held = Holder(stable)
    stop, results = tmp_path / "stop", tmp_path / "loop.jsonl"
    looper = subprocess.Popen([sys.executable, PROBE, "loop", str(stable), str(results), str(stop)])
    try:
        held_files = {r[0] for r in held.ask("select path from ingest_files where kind = 'events'")}
        assert held.ask("select count(*) from events") == [[6000]]

        with log.open("ab") as f:  # the log grows, as a live one does
            f.write(b"".join(lines[6000:]))
        run_dag(dagbag, "footfall_ingest", INGEST_DATE + dt.timedelta(hours=1))
        fresh = snapshot.connect(data_dir)
        assert fresh.execute("select count(*) from events").fetchone() == (10_000,)
        fresh.close()
        assert held.ask("select count(*) from events") == [[6000]]

        run_dag(dagbag, "footfall_report", REPORT_END)
        assert held.ask("select count(*), sum(hits) from daily_traffic")[0][1] == 6000

        run_dag(dagbag, "footfall_retention", RETENTION_DATE)
        fresh = snapshot.connect(data_dir)
        assert fresh.execute("select count(*) from events").fetchone() == (0,)  # purged
        assert fresh.execute("select sum(hits) from traffic_monthly").fetchone() == (10_000,)  # rolled up
        fresh.close()
        # The held session still reads every row of its snapshot, from files retention has
        # unregistered: their deletion waits for the session.
        assert held.ask("select count(*) from events") == [[6000]]
        assert all((data_dir / path).exists() for path in held_files)
    finally:
        stop.touch()
        looper.wait(timeout=60)
        held.close()

    openings = [json.loads(line) for line in results.read_text().splitlines()]
    errors = [o for o in openings if "error" in o]
    assert not errors, errors[:5]
    seen = {o["generation"] for o in openings}
    assert len(openings) > 20 and len(seen) >= 3, (len(openings), seen)

    # With the session closed, the next publication deletes its generation and its files.
    done = subprocess.run(
        [sys.executable, "-m", "warehouse.cli", "publish"], cwd=REPO, env=dict(os.environ), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert not any((data_dir / path).exists() for path in held_files)
    assert len(generations_on_disk(data_dir)) == 1
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from retention_unlink_queue").fetchone() == (0,)
    finally:
        con.close()
