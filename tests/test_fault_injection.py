"""Crash safety with real processes: SIGKILL the ingest at each failpoint, run again, compare.

Each case runs the ingest in a child process (find_sources, plan_units, parse_source per work
unit, commit, aggregate: the DAG's tasks in order) with ``FOOTFALL_FAILPOINT`` set, so it
dies by SIGKILL at that point (warehouse/failpoints.py). Then it runs the ingest again
without the failpoint, in one of two ways Airflow would:

* ``next_run``: a new run id and everything from ``find_sources`` on (the next scheduled run,
  or the DAG run cleared and run anew);
* ``task_retry``: the same run id; the tasks that had finished keep their results (XCom),
  the killed task runs again with the same input, then the tasks after it.

Every table and view an analyst reads must then equal the result of one clean run into
another data dir. All runs share one secrets dir and hash key: visitor ids are keyed with
a random salt per day, created in the secrets dir by whichever run sees the day first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, shared_log

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

FAILPOINTS = (
    "parse.mid_chunks",
    "parse.after_write",
    "commit.after_rename",
    "commit.after_commit",
    "aggregate.mid_rebuild",
)

# One Airflow task per step; a step's result is saved as its XCom when the step returns, so
# a retry with the same run id re-runs the killed step and the steps after it only.
CHILD = """
import datetime as dt, json, sys
from pathlib import Path
from warehouse import ingest
from warehouse.settings import Settings

run_id, xcom = sys.argv[1], Path(sys.argv[2])
xcom.mkdir(parents=True, exist_ok=True)
settings = Settings.from_env()
end = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)

def task(name, fn):
    done = xcom / f"{name}.json"
    if done.exists():
        return json.loads(done.read_text())
    value = fn()
    done.write_text(json.dumps(value))
    return value

plans = task("plan_sources", lambda: [p.to_dict() for p in ingest.find_sources(settings)])
units = task(
    "plan_units", lambda: [u.to_dict() for u in ingest.plan_units(settings, [ingest.SourcePlan(**p) for p in plans])]
)
def parse(unit):
    return ingest.parse_source(settings, ingest.WorkUnit.from_dict(unit), run_id, end.date())

results = [task(f"parse_source-{i}", lambda u=u: parse(u)) for i, u in enumerate(units)]
committed = task("commit_sources", lambda: ingest.commit(settings, results, run_id, end, planned=units))
task("rebuild_aggregates", lambda: ingest.aggregate(settings, committed["days"]))
"""

AGGREGATES = (
    "daily_traffic",
    "status_daily",
    "page_daily",
    "hourly_traffic",
    "visits_daily",
    "referrers_daily",
    "devices_daily",
    "countries_daily",
    "bots_daily",
)
SNAPSHOT_QUERIES = {
    "events": """
        select source_id, event_date, count(*), sum(visitor_id::hugeint), sum(line_number),
               count(distinct line_number), sum(hash(events)::hugeint)
        from events group by all""",
    "quarantine": "select * from quarantine",
    "ingest_sources": """
        select source_id, fingerprint, path, fingerprint_len, compressed, file_size, committed_offset,
               committed_lines from ingest_sources""",
    "ingest_files": "select kind, source_id, event_date, sum(row_count) from ingest_files group by all",
    **{table: f"select * from {table}" for table in AGGREGATES},
}


def _normalise(value):
    # Float aggregates may be summed in another order by another run: compare them rounded.
    return round(value, 9) if isinstance(value, float) else value


def snapshot(data_dir: Path) -> dict[str, list]:
    """Every view and table an analyst reads, as sorted rows (order-independent)."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return {
            name: sorted((tuple(_normalise(v) for v in row) for row in con.execute(sql).fetchall()), key=repr)
            for name, sql in SNAPSHOT_QUERIES.items()
        }
    finally:
        con.close()


def parquet_on_disk(data_dir: Path) -> set[str]:
    return {
        str(p.relative_to(data_dir)) for kind in ("events", "quarantine") for p in (data_dir / kind).rglob("*.parquet")
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Real logs, one secrets dir, a warehouse that has ingested some of them, and the
    snapshot of one clean run over all of them.

    The killed runs start from a warehouse in steady state (aggregates built once), not an
    empty one: a new warehouse rebuilds every day anyway, which would hide lost work.
    """
    root = tmp_path_factory.mktemp("fault-injection")
    logs = root / "logs"
    logs.mkdir()
    apache = shared_log("apache_logs").read_bytes().splitlines(keepends=True)  # ~2.3 MB: 9 chunks
    nginx = shared_log("nginx_logs").read_bytes().splitlines(keepends=True)[:6000]  # ~0.8 MB: 4 chunks
    # Two lines that do not parse, in different chunks, so that the quarantine has rows too.
    nginx[1000:1000] = [b"\x00\x01 not a log line\n"]
    nginx[4000:4000] = [nginx[3999][:40] + b"\n"]
    env = {
        **{k: v for k, v in os.environ.items() if k != "FOOTFALL_FAILPOINT"},
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        "FOOTFALL_LOG_GLOB": str(logs / "*.log"),
        "FOOTFALL_CHUNK_BYTES": "262144",
        "FOOTFALL_MAP_CHUNK_BYTES": "1000000",  # the grown apache log is read in 2 work units
    }
    world = {"root": root, "env": env}
    # Before: the first 4,000 lines of one log were ingested.
    (logs / "apache.log").write_bytes(b"".join(apache[:4000]))
    run_ingest(world, root / "before", "run-0")
    # Now: that log grew (read from its committed offset) and a second log appeared.
    (logs / "apache.log").write_bytes(b"".join(apache))
    (logs / "nginx.log").write_bytes(b"".join(nginx))
    run_ingest(world, root / "clean", "clean-run")
    world["clean"] = snapshot(root / "clean")
    assert {name for name, rows in world["clean"].items() if not rows} == set(), "every table must have rows"
    return world


def run_ingest(world: dict, data_dir: Path, run_id: str, failpoint: str | None = None) -> int:
    env = {**world["env"], "FOOTFALL_DATA_DIR": str(data_dir)}
    if failpoint:
        env["FOOTFALL_FAILPOINT"] = failpoint
    xcom = data_dir.parent / f"{data_dir.name}-xcom" / run_id
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, run_id, str(xcom)], cwd=REPO, env=env, capture_output=True, text=True
    )
    if failpoint is None:
        assert proc.returncode == 0, proc.stderr
    return proc.returncode


CASES = [(failpoint, "next_run") for failpoint in FAILPOINTS] + [
    (failpoint, "task_retry") for failpoint in ("commit.after_rename", "commit.after_commit", "aggregate.mid_rebuild")
]


@pytest.mark.parametrize(("failpoint", "rerun"), CASES)
def test_killed_ingest_then_rerun_equals_one_clean_run(world, failpoint, rerun):
    data_dir = world["root"] / f"{failpoint}-{rerun}"
    shutil.copytree(world["root"] / "before", data_dir)
    assert run_ingest(world, data_dir, "run-1", failpoint) == -signal.SIGKILL

    run_ingest(world, data_dir, "run-1" if rerun == "task_retry" else "run-2")

    after = snapshot(data_dir)
    for name, rows in world["clean"].items():
        assert after[name] == rows, f"{name} differs from a clean run after a kill at {failpoint} and a {rerun}"
    # A crash may leave unregistered Parquet files behind; the views read registered ones only.
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        registered = dict(con.execute("select path, row_count from ingest_files").fetchall())
        viewed = dict(
            con.execute(
                "select 'events', count(*) from events union all select 'quarantine', count(*) from quarantine"
            ).fetchall()
        )
        by_kind = dict(con.execute("select kind, sum(row_count) from ingest_files group by kind").fetchall())
        pending = con.execute("select count(*) from aggregates_pending").fetchone()[0]
    finally:
        con.close()
    on_disk = parquet_on_disk(data_dir)
    assert set(registered) <= on_disk
    assert viewed == {kind: by_kind[kind] for kind in viewed}
    if (failpoint, rerun) == ("commit.after_rename", "next_run"):
        # The killed run's files were moved into place under its own names, never registered.
        assert on_disk - set(registered), "expected the killed run's unregistered files on disk"
    else:
        assert on_disk == set(registered)
    assert pending == 0
    # Once a run has committed, its staging dir is gone.
    staging = data_dir / "staging"
    assert not (staging / ("run-1" if rerun == "task_retry" else "run-2")).exists()
