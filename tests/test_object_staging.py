"""Staged files through object storage: a real S3-protocol server (moto in server mode, a
separate process answering HTTP on 127.0.0.1) stands in for the cloud.

footfall reaches it only as a real deployment would: ``FOOTFALL_STAGING_URL=s3://...`` and an
Airflow Connection (here ``AIRFLOW_CONN_FOOTFALL_STORAGE``, JSON) with the endpoint in its
extra. The bucket is created and listed with boto3, beside footfall, not through it. The
warehouse an object-staged ingest builds must equal, table by table, the warehouse of the same
logs staged on the filesystem, and leave no staged object behind, also when a parse task is
killed half-way through its upload or a commit before it deleted the objects.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, shared_log
from test_fault_injection import CHILD, snapshot

from warehouse.aggregation import aggregate
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import plan_units
from warehouse.ingest.sources import find_sources
from warehouse.settings import Settings

# A real S3 server, Airflow runs and child processes, on excerpts of the real logs.
pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

BUCKET = "footfall-staging"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on a free port of 127.0.0.1, with one bucket; yields its endpoint URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
            time.sleep(0.1)
    client(endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


def client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)


def objects(endpoint: str, prefix: str) -> list[str]:
    found = client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    return [o["Key"] for o in found.get("Contents", [])]


def connection(endpoint: str) -> str:
    """The Airflow Connection of the store, in the JSON form of an ``AIRFLOW_CONN_*`` variable."""
    extra = {"endpoint_url": endpoint, "region_name": CREDENTIALS["region_name"]}
    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})


@pytest.fixture
def store(s3_server, monkeypatch) -> str:
    """Object staging in a fresh prefix of the bucket; returns the prefix."""
    prefix = f"staging-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_STORAGE", connection(s3_server))
    monkeypatch.setenv("FOOTFALL_STAGING_URL", f"s3://{BUCKET}/{prefix}")
    return prefix


END = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """Two real logs (one with two lines that do not parse) cut into several work units, the
    settings to ingest them with (one secrets dir, so the same visitor ids in every run), and
    the snapshot of one clean run staged on the filesystem."""
    root = tmp_path_factory.mktemp("object-staging")
    logs = root / "logs"
    logs.mkdir()
    nginx = shared_log("nginx_logs").read_bytes().splitlines(keepends=True)[:4000]
    nginx[1000:1000] = [b"\x00\x01 not a log line\n"]
    nginx[3000:3000] = [nginx[2999][:40] + b"\n"]
    (logs / "nginx.log").write_bytes(b"".join(nginx))
    (logs / "apache.log").write_bytes(b"".join(shared_log("apache_logs").read_bytes().splitlines(True)[:3000]))
    env = {
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        "FOOTFALL_LOG_GLOB": str(logs / "*.log"),
        "FOOTFALL_MAP_CHUNK_BYTES": "300000",
        "FOOTFALL_DATA_DIR": str(root / "filesystem"),
    }
    settings = Settings.from_env(env)
    units = plan_units(settings, find_sources(settings))
    assert len(units) >= 3  # several parse tasks, each with its own prefix
    results = [parse_source(ParseJob.from_settings(settings), u, "filesystem-run", END.date()) for u in units]
    committed = commit(settings, results, "filesystem-run", END, planned=[u.to_dict() for u in units])
    aggregate(settings, committed["days"])
    clean = snapshot(root / "filesystem")
    assert all(clean.values()), "every table must have rows"
    lines = sum(p.read_bytes().count(b"\n") for p in logs.iterdir())
    return {"env": env, "clean": clean, "lines": lines}


def test_the_dag_staged_in_object_storage_equals_filesystem_staging(dagbag, store, s3_server, world, monkeypatch):
    data_dir = Path(world["env"]["FOOTFALL_DATA_DIR"] + "-object")
    for key, value in (world["env"] | {"FOOTFALL_DATA_DIR": str(data_dir)}).items():
        monkeypatch.setenv(key, value)
    run = dagbag.get_dag("footfall_ingest").test(logical_date=END)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    assert run.data_interval_end.date() == END.date()  # the quarantine's ingest_date partition
    assert objects(s3_server, store) == []  # the commit deleted the run's staged objects
    assert not any((data_dir / "staging").iterdir())
    object_staged = snapshot(data_dir)
    for table, rows in world["clean"].items():
        assert object_staged[table] == rows, f"{table} differs between object and filesystem staging"
    # Independent of both: every input line is an event or a quarantined line, once.
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        events, quarantined = con.execute(
            "select (select count(*) from events), (select count(*) from quarantine)"
        ).fetchone()
    finally:
        con.close()
    assert (events + quarantined, quarantined) == (world["lines"], 2)


def run_child(env: dict[str, str], data_dir, run_id: str, failpoint: str | None = None) -> int:
    """The ingest's tasks in a child process (tests/test_fault_injection.py's), each task's
    result kept as its XCom, so a second call with the same run id is Airflow's task retry."""
    env = {**env, "FOOTFALL_DATA_DIR": str(data_dir)} | ({"FOOTFALL_FAILPOINT": failpoint} if failpoint else {})
    xcom = data_dir.parent / f"{data_dir.name}-xcom" / run_id
    done = subprocess.run([sys.executable, "-c", CHILD, run_id, str(xcom)], cwd=REPO, env=env, capture_output=True)
    if failpoint is None:
        assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.returncode


@pytest.mark.parametrize("failpoint", ["staging.mid_upload", "commit.after_commit"])
def test_a_killed_task_retried_with_object_staging_counts_everything_once(store, s3_server, world, tmp_path, failpoint):
    """A parse task killed after uploading part of its unit, or a commit killed after its
    transaction but before deleting the staged objects, then retried: the totals equal a
    clean filesystem-staged run, and no staged object is left."""
    env = {k: v for k, v in os.environ.items() if k != "FOOTFALL_FAILPOINT"} | {
        k: v for k, v in world["env"].items() if k != "FOOTFALL_DATA_DIR"
    }
    assert run_child(env, tmp_path / "object", "run-1", failpoint) == -signal.SIGKILL
    assert objects(s3_server, store), "the killed task should have left staged objects"
    run_child(env, tmp_path / "object", "run-1")  # the task retry: same run id, earlier results kept
    assert objects(s3_server, store) == []
    retried = snapshot(tmp_path / "object")
    for table, rows in world["clean"].items():
        assert retried[table] == rows, f"{table} differs from a clean run after a kill at {failpoint}"


def check(capsys) -> tuple[int, str]:
    from warehouse.cli import main

    code = main(["check"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("staging_url", "conn", "fix"),
    [
        ("gs://footfall/staging", True, "unknown scheme 'gs'; set it to s3://bucket/prefix"),
        (f"s3://{BUCKET}/staging", False, "Connection 'footfall_storage' (FOOTFALL_STORAGE_CONN_ID) does not exist"),
        ("s3://no-such-bucket/staging", True, "bucket 'no-such-bucket' cannot be listed with the Connection"),
    ],
)
def test_check_fails_on_object_staging_it_cannot_use_saying_what_to_fix(
    footfall_env, s3_server, monkeypatch, capsys, staging_url, conn, fix
):
    footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")), FOOTFALL_STAGING_URL=staging_url)
    monkeypatch.delenv("AIRFLOW_CONN_FOOTFALL_STORAGE", raising=False)
    if conn:
        monkeypatch.setenv("AIRFLOW_CONN_FOOTFALL_STORAGE", connection(s3_server))
    code, err = check(capsys)
    assert code == 2
    assert fix in err.strip().splitlines()[-1]  # the last thing printed, once
    assert err.count(fix) == 1 and "Traceback" not in err


def test_check_passes_with_a_reachable_bucket(footfall_env, store, capsys):
    footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    code, err = check(capsys)
    assert code == 0, err


def test_the_orphan_sweep_deletes_stale_run_prefixes_in_object_storage(footfall_env, store, s3_server):
    from warehouse import retention, storage

    data_dir = footfall_env()
    storage.connect(data_dir).close()  # an empty warehouse
    s3 = client(s3_server)
    s3.put_object(Bucket=BUCKET, Key=f"{store}/run-old/src-000/events-2026-11-20.parquet", Body=b"x")
    settings = Settings.from_env()
    # Objects cannot be back-dated: judged a day and an hour later, the run is stale.
    later = dt.datetime.now(dt.UTC) + retention.STAGING_GRACE + dt.timedelta(hours=1)
    assert retention.sweep_orphans(settings, dt.datetime.now(dt.UTC))["staging"] == []
    assert objects(s3_server, store)
    assert retention.sweep_orphans(settings, later)["staging"] == ["run-old"]
    assert objects(s3_server, store) == []


def test_check_finds_a_connection_made_in_the_metadata_db(airflow_db, footfall_env, s3_server, monkeypatch, capsys):
    """As ``airflow connections add`` makes it, not only as an ``AIRFLOW_CONN_*`` variable."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    conn_id = f"footfall_storage_{uuid.uuid4().hex[:8]}"
    with create_session() as session:
        fields = json.loads(connection(s3_server))
        session.add(Connection(conn_id=conn_id, **fields | {"extra": json.dumps(fields["extra"])}))
    footfall_env(
        FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")),
        FOOTFALL_STAGING_URL=f"s3://{BUCKET}/staging",
        FOOTFALL_STORAGE_CONN_ID=conn_id,
    )
    code, err = check(capsys)
    assert code == 0, err
    assert "_AIRFLOW_PROCESS_CONTEXT" not in os.environ
