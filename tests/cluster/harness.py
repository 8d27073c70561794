"""Drive a real footfall cluster (deploy/cluster) from tests and the cluster benchmark.

Everything goes through the deployment's own scripts and Airflow's own CLI, run as the
cluster's hosts (``deploy/cluster/host-env.sh``); task instances are read from the metadata DB
(PostgreSQL) directly. Which worker host ran a task try is told by whose Airflow home holds
its log file: the two workers share one machine, so Airflow records the same hostname for both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "cluster"
WORKERS = ("worker1", "worker2")
WAREHOUSE_HOST = "worker1"

# Bookkeeping columns that name a run, its interval or a run's file name; with the ``*_at``
# moments, everything else must match across runs.
_RUN_COLUMNS = {"run_id", "ingest_run_id", "path", "data_interval_end"}
# Rows that depend on where a warehouse is: the views' fingerprint hashes its data dir and file names.
_ROW_FILTERS = {"warehouse_meta": "where key <> 'views_fingerprint'"}


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip()
    return values


@dataclass
class Cluster:
    """One cluster: its directory, port base and the environment its scripts are run with."""

    directory: Path
    port_base: int
    settings: dict[str, str] = field(default_factory=dict)  # CLUSTER_* tunables and FOOTFALL_* settings

    @property
    def shared(self) -> Path:
        return self.directory / "shared"

    @property
    def data_dir(self) -> Path:
        return self.shared / "data"

    @property
    def secrets_dir(self) -> Path:
        return self.shared / "secrets"

    @property
    def logs_dir(self) -> Path:
        """Where the tests put the access logs the cluster reads (FOOTFALL_LOG_GLOB)."""
        return self.shared / "logs"

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "CLUSTER_", "AIRFLOW"))}
        return {
            **keep,
            "CLUSTER_DIR": str(self.directory),
            "CLUSTER_PORT_BASE": str(self.port_base),
            **self.settings,
            **extra,
        }

    def script(self, name: str, *args: str, timeout: float = 600, **extra: str) -> str:
        proc = subprocess.run(
            [str(DEPLOY / name), *args], env=self.env(**extra), capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def up(self, **extra: str) -> None:
        self.script("up.sh", **extra)
        self.wait_workers_ready()

    def down(self, purge: bool = False) -> None:
        if self.directory.exists():
            self.script("down.sh", PURGE="1" if purge else "0")

    def process(self, action: str, *names: str, **extra: str) -> None:
        self.script("process.sh", action, *names, **extra)

    def airflow(self, *args: str, timeout: float = 300) -> str:
        return self.script("host-env.sh", "control", "airflow", *args, timeout=timeout)

    # -- the metadata DB ---------------------------------------------------------------------

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg2

        secrets = _read_env_file(self.directory / "control" / "airflow" / "secrets.env")
        con = psycopg2.connect(
            host="127.0.0.1",
            port=self.port_base,
            dbname="airflow",
            user="airflow",
            password=secrets["CLUSTER_PG_PASSWORD"],
            connect_timeout=10,
        )
        try:
            with con, con.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def hash_key(self) -> str:
        """The cluster's Airflow Variable ``footfall_hash_key`` (for a reference run with the same key)."""
        return self.airflow("variables", "get", "footfall_hash_key").strip().splitlines()[-1]

    # -- runs ---------------------------------------------------------------------------------

    def trigger(self, dag_id: str, logical_date: dt.datetime, run_id: str) -> str:
        self.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--logical-date", logical_date.isoformat())
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.sql("select state from dag_run where dag_id = %s and run_id = %s", (dag_id, run_id))
        return rows[0][0] if rows else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} {run_id} still {self.run_state(dag_id, run_id)} after {timeout:.0f} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        cols = ("task_id", "map_index", "state", "try_number", "queue", "pool", "queued_dttm", "start_date", "end_date")
        rows = self.sql(
            f"select {', '.join(cols)} from task_instance where dag_id = %s and run_id = %s", (dag_id, run_id)
        )
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def task_tries(self, dag_id: str, run_id: str) -> list[dict]:
        """Every try of every task of the run (task_instance_history holds the earlier tries)."""
        cols = ("task_id", "map_index", "state", "try_number", "queue", "queued_dttm", "start_date", "end_date")
        query = f"select {', '.join(cols)} from {{}} where dag_id = %s and run_id = %s"
        rows = self.sql(query.format("task_instance"), (dag_id, run_id))
        rows += self.sql(query.format("task_instance_history"), (dag_id, run_id))
        return [dict(zip(cols, row, strict=True)) for row in rows if row[3]]

    def hosts_of(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1) -> set[str]:
        """The worker hosts whose Airflow home holds the log of that try."""
        rel = Path(f"dag_id={dag_id}") / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            rel /= f"map_index={map_index}"
        rel /= f"attempt={try_number}.log"
        return {w for w in WORKERS if (self.directory / w / "airflow" / "logs" / rel).exists()}

    # -- processes ------------------------------------------------------------------------------

    def session_pids(self, name: str) -> list[int]:
        pid_file = self.directory / "run" / f"{name}.pid"
        if not pid_file.exists():
            return []
        sid = int(pid_file.read_text())
        out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True).stdout
        return [int(p) for p, s, _ in (line.split() for line in out.splitlines()) if int(s) == sid]

    def stopped_pids(self, name: str) -> list[int]:
        """Processes of a host's session stopped by SIGSTOP (a failpoint with FOOTFALL_FAILPOINT_ACTION=stop)."""
        pids = set(self.session_pids(name))
        out = subprocess.run(["ps", "-e", "-o", "pid=,stat="], capture_output=True, text=True).stdout
        return [int(p) for p, stat in (line.split() for line in out.splitlines()) if int(p) in pids and "T" in stat]

    def kill_host(self, name: str) -> int:
        """SIGKILL every process of a worker host at once (its Celery worker, task supervisors,
        task processes, log server), as a host losing power would. Returns how many."""
        pids = self.session_pids(name)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        (self.directory / "run" / f"{name}.pid").unlink(missing_ok=True)
        return len(pids)

    def wait_workers_ready(self, names: tuple[str, ...] = WORKERS, timeout: float = 120) -> None:
        """Until each worker's Celery node answers a ping through the broker."""
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            out = subprocess.run(
                [str(DEPLOY / "host-env.sh"), "control", "celery", "--app",
                 "airflow.providers.celery.executors.celery_executor.app", "inspect", "ping", "--timeout", "3"],
                env=self.env(), capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            waiting -= {w for w in waiting if f"{w}@" in out.stdout}
            if waiting:
                time.sleep(2)
        if waiting:
            raise TimeoutError(f"workers {sorted(waiting)} did not answer a ping in {timeout:.0f} s")


# -- reference runs and comparisons ------------------------------------------------------------


def local_reference_run(
    root: Path, env: dict[str, str], logical_date: dt.datetime, secrets_from: Path, hash_key: str
) -> Path:
    """``airflow dags test footfall_ingest`` under the LocalExecutor (SQLite, one machine) on the
    same logs and settings, with a copy of the cluster's secrets dir (so the same daily salts)
    and the same hash key. Returns its data dir."""
    home, data_dir, secrets = root / "airflow", root / "data", root / "secrets"
    shutil.rmtree(root, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(secrets_from, secrets)
    local_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "AIRFLOW"))},
        **{k: v for k, v in env.items() if k.startswith("FOOTFALL_")},
        "FOOTFALL_REPO": str(REPO),
        "FOOTFALL_DATA_DIR": str(data_dir),
        "FOOTFALL_SECRETS_DIR": str(secrets),
        "FOOTFALL_HASH_KEY": hash_key,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    airflow = [str(REPO / ".venv" / "bin" / "airflow")]
    for args in (
        ["db", "migrate"],
        ["pools", "set", "footfall_warehouse", "1", "one writer at a time"],
        ["dags", "test", "footfall_ingest", logical_date.isoformat()],
    ):
        proc = subprocess.run([*airflow, *args], env=local_env, capture_output=True, text=True, timeout=900)
        failed = proc.returncode != 0 or "state=failed" in proc.stdout + proc.stderr
        assert not failed, f"airflow {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return data_dir


def snapshot(data_dir: Path) -> dict[str, pa.Table]:
    """Every table of the warehouse and the events and quarantine views, without the columns
    that name a run, a moment (``*_at``) or a run's file name."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        names = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' and not temporary order by 1"
        ).fetchall()] + ["events", "quarantine"]  # fmt: skip
        out = {}
        for name in names:
            cols = [r[0] for r in con.execute(f"describe {name}").fetchall()]
            keep = [f'"{c}"' for c in cols if c not in _RUN_COLUMNS and not c.endswith("_at")]
            if keep:  # e.g. retention_unlink_queue holds file names only
                query = f"select {', '.join(keep)} from {name} {_ROW_FILTERS.get(name, '')}"
                out[name] = con.sql(query).to_arrow_table()
        return out
    finally:
        con.close()


def differences(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> dict[str, tuple[int, int]]:
    """Per table, rows of ``a`` missing from ``b`` and of ``b`` missing from ``a`` (EXCEPT ALL
    both ways, so duplicates count); only tables that differ, or exist on one side only."""
    out = {}
    con = duckdb.connect()
    try:
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b:
                out[name] = (-1, -1)
                continue
            con.register("a_side", a[name])
            con.register("b_side", b[name])
            only_a = con.execute("select count(*) from (from a_side except all from b_side)").fetchall()[0][0]
            only_b = con.execute("select count(*) from (from b_side except all from a_side)").fetchall()[0][0]
            con.unregister("a_side")
            con.unregister("b_side")
            if only_a or only_b:
                out[name] = (only_a, only_b)
    finally:
        con.close()
    return out


def registration_problems(data_dir: Path) -> list[str]:
    """Files registered twice, registered but missing, or on disk but not registered; staging left."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        registered = [r[0] for r in con.execute("select path from ingest_files").fetchall()]
        ranges = con.execute(
            "select source_id, start_offset, count(*) from data_quality where not rejected"
            " group by all having count(*) > 1"
        ).fetchall()
        pending = con.execute("select count(*) from aggregates_pending").fetchone()[0]
    finally:
        con.close()
    problems = []
    if len(registered) != len(set(registered)):
        problems.append(f"{len(registered) - len(set(registered))} file(s) registered twice")
    kinds = ("events", "quarantine")
    on_disk = {str(p.relative_to(data_dir)) for k in kinds for p in (data_dir / k).rglob("*.parquet")}
    if missing := set(registered) - on_disk:
        problems.append(f"registered but missing: {sorted(missing)[:3]}")
    if orphans := on_disk - set(registered):
        problems.append(f"on disk but not registered (orphans): {sorted(orphans)[:3]}")
    if ranges:
        problems.append(f"byte ranges committed twice: {ranges[:3]}")
    if pending:
        problems.append(f"{pending} day(s) still pending an aggregate rebuild")
    staging = data_dir / "staging"
    if staging.exists() and any(staging.iterdir()):
        problems.append(f"staging not empty: {sorted(p.name for p in staging.iterdir())[:3]}")
    return problems


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, default=str))
