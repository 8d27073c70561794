"""The DAG files import cleanly and wire the expected tasks, pools, schedules and docs."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

EXPECTED = {
    "footfall_ingest": {
        "check_environment": set(),
        "purge_old_salts": {"check_environment"},
        "plan_sources": {"purge_old_salts"},
        "plan_units": {"plan_sources"},
        "parse_source": {"plan_units"},
        "commit_sources": {"plan_units", "parse_source"},
        "rebuild_aggregates": {"commit_sources"},
    },
    "footfall_report": {
        "wait_for_ingest": set(),
        "build_report": {"wait_for_ingest"},
    },
    "footfall_daily_summary": {
        "wait_for_ingest": set(),
        "build_daily_summary": {"wait_for_ingest"},
    },
    "footfall_delivery": {
        "claim_reports": set(),
        "post_reports": {"claim_reports"},
        "record_deliveries": {"claim_reports", "post_reports"},
    },
    "footfall_retention": {
        "plan": set(),
        "rebuild_pending": {"plan"},
        "purge_raw": {"rebuild_pending"},
        "roll_up": {"purge_raw"},
        "purge_aggregates": {"roll_up"},
        "sweep_orphans": {"purge_aggregates"},
    },
}
WAREHOUSE_TASKS = {
    "plan_sources",
    "commit_sources",
    "rebuild_aggregates",
    "wait_for_ingest",
    "build_report",
    "build_daily_summary",
    "claim_reports",
    "record_deliveries",
    "plan",
    "rebuild_pending",
    "purge_raw",
    "roll_up",
    "purge_aggregates",
    "sweep_orphans",
}
# The time part of each DAG's schedule (footfall_delivery also runs when a report is queued).
SCHEDULES = {
    "footfall_ingest": dt.timedelta(seconds=1800),
    "footfall_report": dt.timedelta(seconds=1800),
    "footfall_daily_summary": dt.timedelta(days=1),
    "footfall_delivery": dt.timedelta(seconds=1800),
    "footfall_retention": dt.timedelta(days=1),
}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(EXPECTED)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_task_graph(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    graph = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert graph == EXPECTED[dag_id]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_conventions(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.description and len(dag.description) < 120  # the one line the UI lists it with
    assert "footfall" in dag.tags
    assert dag.catchup is False and dag.max_active_runs == 1
    assert getattr(dag.timetable, "timetable", dag.timetable).delta == SCHEDULES[dag_id]
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        # Every task that opens the DuckDB file takes the one-slot pool; parsing never does.
        assert (task.pool == "footfall_warehouse") == (task.task_id in WAREHOUSE_TASKS), task.task_id
        # ... and goes to the warehouse host's Celery queue; the rest to the queue every worker serves.
        expected_queue = "footfall_warehouse" if task.task_id in WAREHOUSE_TASKS else "default"
        assert task.queue == expected_queue, task.task_id


def test_dag_files_do_no_work_at_import():
    """Parsing a DAG file must not import the data stack (the scheduler re-parses constantly)."""
    code = (
        "import sys, runpy, pathlib\n"
        f"for f in sorted(pathlib.Path('{REPO}/dags').glob('*.py')): runpy.run_path(str(f))\n"
        "heavy = [m for m in ('polars', 'duckdb', 'pyarrow', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_interval_follows_visit_tracking_interval():
    code = (
        "import runpy\n"
        f"ns = runpy.run_path('{REPO}/dags/footfall_report.py')\n"
        "dag = ns['footfall_report']()\n"
        "print(int(dag.timetable.delta.total_seconds()))\n"
    )
    env = {**__import__("os").environ, "VISIT_TRACKING_INTERVAL": "600"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "600"
    bad = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, "VISIT_TRACKING_INTERVAL": "0"}
    )
    assert bad.returncode != 0 and "VISIT_TRACKING_INTERVAL='0' must be greater than 0" in bad.stderr


def test_only_retention_starts_paused_on_a_new_airflow_home(dagbag):
    """Deleting data must wait for an operator: the retention DAG is paused when first created,
    whatever airflow.cfg's dags_are_paused_at_creation says (False here); the others run."""
    paused = {dag_id: dagbag.get_dag(dag_id).is_paused_upon_creation for dag_id in EXPECTED}
    assert paused == {dag_id: dag_id == "footfall_retention" or None for dag_id in EXPECTED}


def test_ingest_params_override_the_environment_for_one_run(dagbag):
    params = dagbag.get_dag("footfall_ingest").params
    assert set(params) == {"log_globs", "site", "log_format", "files_from", "files_to"}
    assert all(params[name] is None for name in params)  # empty: the environment decides
