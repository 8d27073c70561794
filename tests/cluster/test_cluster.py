"""The ingest DAG on the CeleryExecutor cluster (deploy/cluster), with real processes throughout.

* A clean run spreads its parse tasks over both worker hosts, keeps every warehouse task on
  the warehouse host's queue, and leaves a warehouse equal, table by table (EXCEPT ALL both
  ways), to a LocalExecutor run of the same logs (``airflow dags test``, SQLite, one machine)
  with the same secrets: the same visitor ids, although days were parsed on both hosts.
* A worker host killed (SIGKILL of all its processes) in the middle of a parse task: Celery
  hands the unacknowledged message out again, Airflow fails the lost try once its heartbeat
  times out and retries it elsewhere; the run ends equal to the clean one.
* The warehouse host killed in the middle of a commit (files moved into place, transaction
  open), then every process of the cluster restarted, PostgreSQL and Redis included: the commit
  is retried and the run ends equal to the clean one, nothing registered twice, no orphan.

Each case starts from an empty shared data dir and keeps the shared secrets dir (the same
daily salts), so even the visitor ids must match the clean run's.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
import time

import pytest
from conftest import shared_log

from .harness import (
    WAREHOUSE_HOST,
    WORKERS,
    Cluster,
    differences,
    local_reference_run,
    registration_problems,
    snapshot,
)

pytestmark = pytest.mark.slow

DAG = "footfall_ingest"
WAREHOUSE_TASKS = {"plan_sources", "commit_sources", "rebuild_aggregates"}
DAY = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def write_logs(cluster: Cluster) -> None:
    """Three real logs: ~39 MB of plain text (about 14 work units), a 7 MB one and a gzipped one."""
    logs = cluster.logs_dir
    with gzip.open(shared_log("wordpress_access3.log.gz"), "rb") as src, open(logs / "wordpress.log", "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copyfile(shared_log("nginx_logs"), logs / "nginx.log")
    with open(shared_log("apache_logs"), "rb") as src, gzip.open(logs / "apache.log.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)


def start_case(cluster: Cluster) -> None:
    """An empty shared data dir and the same logs; the secrets dir (daily salts) is kept."""
    for path in (cluster.data_dir, cluster.logs_dir):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    write_logs(cluster)


def wait_for_stopped(cluster: Cluster, host: str, timeout: float = 300) -> int:
    """Until a process of ``host`` stops itself at its failpoint; returns its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pids := cluster.stopped_pids(host):
            return pids[0]
        time.sleep(0.5)
    raise TimeoutError(f"no task of {host} reached its failpoint in {timeout:.0f} s")


def parse_hosts_by_day(cluster: Cluster, run_id: str) -> dict[str, set[str]]:
    """Event day -> worker hosts that parsed a unit with events of that day.

    A unit's host is the worker whose Airflow home holds its task log; the log names the unit's
    start offset, and the registered events files carry the source, start offset and day.
    """
    import duckdb

    host_of_unit = {}
    for host in WORKERS:
        home = cluster.directory / host / "airflow"
        logs = home / "logs" / f"dag_id={DAG}" / f"run_id={run_id}" / "task_id=parse_source"
        for log in logs.rglob("attempt=*.log"):
            for source, start in re.findall(r"of source ([0-9a-f]+) .*?bytes (\d+)-", log.read_text()):
                host_of_unit[(source, int(start))] = host
    con = duckdb.connect(str(cluster.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        files = con.execute("select path, source_id, event_date from ingest_files where kind = 'events'").fetchall()
    finally:
        con.close()
    by_day: dict[str, set[str]] = {}
    for path, source, day in files:
        start = int(path.rsplit("/", 1)[-1].split("-")[1])
        by_day.setdefault(day.isoformat(), set()).add(host_of_unit[(source, start)])
    return by_day


@pytest.fixture(scope="module")
def clean_run(cluster, tmp_path_factory):
    """One clean Celery run over the logs, and a LocalExecutor run of the same with the same secrets."""
    start_case(cluster)
    run_id = cluster.trigger(DAG, DAY, "clean")
    assert cluster.wait_run(DAG, run_id) == "success"
    local = local_reference_run(
        tmp_path_factory.mktemp("local") / "run", cluster.settings, DAY, cluster.secrets_dir, cluster.hash_key()
    )
    return {"run_id": run_id, "celery": snapshot(cluster.data_dir), "local": snapshot(local)}


def test_celery_run_equals_local_run_table_by_table(cluster, clean_run):
    run_id = clean_run["run_id"]
    tis = cluster.task_instances(DAG, run_id)
    assert {t["state"] for t in tis} == {"success"}
    parse = [t for t in tis if t["task_id"] == "parse_source"]
    assert len(parse) >= 10, "the logs must make enough work units to spread"
    parse_hosts = [cluster.hosts_of(DAG, run_id, "parse_source", t["map_index"]) for t in parse]
    assert all(len(h) == 1 for h in parse_hosts), "each parse task ran once, on one host"
    assert set().union(*parse_hosts) == set(WORKERS), "parse tasks ran on both worker hosts"
    for t in tis:
        if t["task_id"] in WAREHOUSE_TASKS:
            assert t["queue"] == "footfall_warehouse" and t["pool"] == "footfall_warehouse", t["task_id"]
            assert cluster.hosts_of(DAG, run_id, t["task_id"]) == {WAREHOUSE_HOST}, t["task_id"]
        else:
            assert t["queue"] == "default", t["task_id"]

    # Days whose lines were parsed on both hosts: their visitors must not be split in two.
    shared_days = {day for day, hosts in parse_hosts_by_day(cluster, run_id).items() if hosts == set(WORKERS)}
    assert shared_days, "some day must have been parsed on both hosts"
    assert len(list(cluster.secrets_dir.glob("salts/*.salt"))) >= len(shared_days)

    assert clean_run["celery"]["events"].num_rows > 250_000
    assert differences(clean_run["celery"], clean_run["local"]) == {}
    assert registration_problems(cluster.data_dir) == []


def test_worker_killed_mid_parse_is_delivered_again_and_run_equals_clean(cluster, clean_run):
    cluster.process("stop", "worker2")
    cluster.process("start", "worker2", FOOTFALL_FAILPOINT="parse.mid_chunks", FOOTFALL_FAILPOINT_ACTION="stop")
    cluster.wait_workers_ready(("worker2",))
    start_case(cluster)
    run_id = cluster.trigger(DAG, DAY + dt.timedelta(hours=1), "kill-parse-worker")

    wait_for_stopped(cluster, "worker2")
    running_there = [
        t for t in cluster.task_instances(DAG, run_id)
        if t["task_id"] == "parse_source" and t["state"] == "running"
        and "worker2" in cluster.hosts_of(DAG, run_id, "parse_source", t["map_index"], t["try_number"])
    ]  # fmt: skip
    assert running_there, "a parse task was running on worker2 when it was killed"
    killed_at = time.monotonic()
    assert cluster.kill_host("worker2") > 0
    cluster.process("start", "worker2")  # the host comes back, without the failpoint

    assert cluster.wait_run(DAG, run_id, timeout=900) == "success"
    for t in running_there:
        ti = next(x for x in cluster.task_instances(DAG, run_id) if x["map_index"] == t["map_index"])
        assert ti["task_id"] == "parse_source" and ti["state"] == "success" and ti["try_number"] > t["try_number"]
    # Celery handed the lost messages out again (acks_late + visibility timeout): Airflow saw
    # their tries still running (no heartbeat timeout yet) and dropped them; the heartbeat
    # timeout then failed those tries and the retries above ran them on a live host.
    redelivered = sum(
        (cluster.directory / "logs" / f"{w}.log").read_text().count("ignoring redelivered message") for w in WORKERS
    )
    print(f"redelivered messages dropped as already running: {redelivered}; run done after "
          f"{time.monotonic() - killed_at:.0f} s from the kill")  # fmt: skip
    assert redelivered >= 1, "Celery did not hand the lost task's message out again"
    assert differences(snapshot(cluster.data_dir), clean_run["celery"]) == {}
    assert registration_problems(cluster.data_dir) == []


def test_warehouse_worker_killed_mid_commit_then_everything_restarted(cluster, clean_run):
    cluster.process("stop", WAREHOUSE_HOST)
    cluster.process("start", WAREHOUSE_HOST, FOOTFALL_FAILPOINT="commit.after_rename", FOOTFALL_FAILPOINT_ACTION="stop")
    cluster.wait_workers_ready((WAREHOUSE_HOST,))
    start_case(cluster)
    run_id = cluster.trigger(DAG, DAY + dt.timedelta(hours=2), "kill-warehouse-worker")

    wait_for_stopped(cluster, WAREHOUSE_HOST)
    commit = next(t for t in cluster.task_instances(DAG, run_id) if t["task_id"] == "commit_sources")
    assert commit["state"] == "running"
    # The commit's files are in place and its transaction is open, not committed.
    assert any(cluster.data_dir.glob("events/*/*.parquet"))
    assert cluster.kill_host(WAREHOUSE_HOST) > 0
    cluster.down()  # every other process, PostgreSQL and Redis too
    cluster.up()

    assert cluster.wait_run(DAG, run_id, timeout=900) == "success"
    commit = next(t for t in cluster.task_instances(DAG, run_id) if t["task_id"] == "commit_sources")
    assert commit["state"] == "success" and commit["try_number"] >= 2
    assert differences(snapshot(cluster.data_dir), clean_run["celery"]) == {}
    assert registration_problems(cluster.data_dir) == []
