"""Backfilling with the ingest DAG's Params, under real Airflow runs on real log lines.

The Params (the trigger form, or ``airflow dags trigger --conf``; ``dag.test(run_conf=...)`` hands
them over the same way) override the environment for one run: which logs, their site and format,
and a date range of the files to read. Which file is in range is set up here by construction: each
file holds real lines of known dates and is given a modification time.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os

import pytest
from conftest import REPO, shared_log
from warehouse_queries import query

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

END = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


def ingest_dag(dagbag):
    """footfall_ingest parsed afresh from its file: in one process, dag.test(run_conf=...) leaves
    the conf's values in the DAG's Param objects (ParamsDict resolves them in place), and the other
    tests share the session DagBag's DAG. (A scheduled task runs in a fresh process: no leak.)"""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags" / "footfall_ingest.py")).get_dag("footfall_ingest")


def at(path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def archive(tmp_path):
    """A 2015 log (lines of 2015-05-17, last written 2015-05-18) and a 2016 one (2016-02-20, .gz)."""
    folder = tmp_path / "archive"
    folder.mkdir()
    old = folder / "access.log-20150518"
    old.write_bytes(b"".join(shared_log("apache_logs").read_bytes().splitlines(keepends=True)[:1000]))
    at(old, dt.datetime(2015, 5, 18, 6, tzinfo=dt.UTC))
    lines = gzip.decompress(shared_log("wordpress_access3.log.gz").read_bytes()).splitlines(keepends=True)[:1000]
    new = folder / "access.log-20160221.gz"
    new.write_bytes(gzip.compress(b"".join(lines)))
    at(new, dt.datetime(2016, 2, 21, 6, tzinfo=dt.UTC))
    return folder


def test_params_choose_the_logs_site_format_and_dates_of_one_run(dagbag, footfall_env, archive, tmp_path, monkeypatch):
    (tmp_path / "live").mkdir()
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(tmp_path / "live" / "*.log"), FOOTFALL_LOG_FORMAT="main")
    monkeypatch.setenv("FOOTFALL_LOG_GLOBS", "/var/log/nginx/*")  # a typo: warned about, not fatal
    dag = ingest_dag(dagbag)
    conf = {
        "log_globs": f"{archive}/access.log-*",
        "site": "archive",
        "log_format": "combined",  # the environment's "main" would reject these lines
        "files_from": "2016-01-01",
        "files_to": "2016-12-31",
    }
    run = dag.test(logical_date=END, run_conf=conf)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    check = run.get_task_instance("check_environment").xcom_pull(task_ids="check_environment")
    assert check == {"unknown_variables": ["FOOTFALL_LOG_GLOBS"], "params": conf}
    # Only the 2016 file: its lines start 2016-02-20 and it was last written 2016-02-21.
    assert query(data_dir, "select path, site from ingest_sources") == [
        (str(archive / "access.log-20160221.gz"), "archive")
    ]
    assert query(data_dir, "select site, count(*) from events group by all") == [("archive", 1000)]

    # A file is in range when its span (first line .. last modification) overlaps it.
    run = dag.test(
        logical_date=END + dt.timedelta(minutes=30),
        run_conf=conf | {"files_from": "2015-05-18", "files_to": "2015-05-18"},
    )
    assert run.state == "success"
    assert query(data_dir, "select count(*) from events") == [(2000,)]
    assert query(data_dir, "select count(*) from ingest_sources") == [(2,)]

    # Without Params, the environment applies again: its glob matches nothing new.
    run = ingest_dag(dagbag).test(logical_date=END + dt.timedelta(hours=1))
    assert run.state == "success"
    assert query(data_dir, "select count(*) from events") == [(2000,)]


def test_a_bad_date_param_fails_the_run_at_its_first_task(dagbag, footfall_env, archive):
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(archive / "*"))
    dag = ingest_dag(dagbag)
    run = dag.test(logical_date=END, run_conf={"files_from": "2016-03-01", "files_to": "2016-02-01"})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["check_environment"] == "failed"
    assert states["plan_sources"] == "upstream_failed"
    assert not (data_dir / "events").exists()
