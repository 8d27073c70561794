"""Runs triggered without a logical date, as Airflow 3's Trigger button and ``airflow dags
trigger`` make them by default: they have no data interval, and every DAG still does its job.

Real Airflow (``dag.test(logical_date=None)`` gives the run a ``run_after`` and no data
interval, exactly as a manual trigger does), the real log ``apache_logs`` (10,000 requests:
its README and GoAccess's count in ``../shared/data/real/goaccess/``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import shared_log
from warehouse_queries import query

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

REPORT_LENGTH = dt.timedelta(minutes=30)  # VISIT_TRACKING_INTERVAL's default, 1800 s


def run_now(dagbag, dag_id: str):
    dag = dagbag.get_dag(dag_id)
    retries = {t.task_id: t.retries for t in dag.tasks}
    for t in dag.tasks:
        t.retries = 0  # a failure is the outcome under test: no retry delays
    try:
        run = dag.test(logical_date=None)
    finally:
        for t in dag.tasks:
            t.retries = retries[t.task_id]
    assert run.logical_date is None and run.data_interval_end is None, "not the run a manual trigger makes"
    return run


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def utc(value) -> dt.datetime:
    return dt.datetime.fromtimestamp(value.timestamp(), dt.UTC)


@pytest.fixture
def apache_env(footfall_env, tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(shared_log("apache_logs").read_bytes())
    return footfall_env(FOOTFALL_LOG_GLOB=str(log), FOOTFALL_TIMEZONE="UTC")


def test_a_report_without_a_logical_date_before_any_ingest_fails_at_once_saying_why(dagbag, apache_env, capsys):
    run = run_now(dagbag, "footfall_report")

    assert run.state == "failed"
    assert states(run)["wait_for_ingest"] == "failed"  # not left waiting for an ingest that is not coming
    assert "no ingest run has committed yet: trigger footfall_ingest first" in capsys.readouterr().out


def test_ingest_report_summary_and_retention_triggered_without_a_logical_date(dagbag, apache_env):
    data_dir = apache_env

    ingest = run_now(dagbag, "footfall_ingest")
    assert ingest.state == "success", states(ingest)
    assert query(data_dir, "select count(*) from events") == [(10_000,)]
    # The run read the logs as they were when it was triggered for: that is its interval's end.
    (recorded,) = query(data_dir, "select data_interval_end from ingest_runs where run_id = ?", [ingest.run_id])
    assert utc(recorded[0]) == utc(ingest.run_after)

    report = run_now(dagbag, "footfall_report")
    assert report.state == "success", states(report)
    end = utc(ingest.run_after)
    start = end - REPORT_LENGTH
    expected_id = f"visits-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"
    assert query(data_dir, "select report_id from report_outbox where kind = 'visits'") == [(expected_id,)]

    summary = run_now(dagbag, "footfall_daily_summary")
    assert summary.state == "success", states(summary)
    # The day whose end, the following midnight (UTC here), lies in the day before the ingest's end.
    day = end.date() - dt.timedelta(days=1)
    rows = query(data_dir, "select report_id from report_outbox where kind = 'daily_summary'")
    assert rows == [(f"daily_summary-{day:%Y%m%d}T000000Z-{day + dt.timedelta(days=1):%Y%m%d}T000000Z",)]

    retention = run_now(dagbag, "footfall_retention")
    assert retention.state == "success", states(retention)
    # Purged by the run's own time: the 2015 raw events are past their window, and the daily
    # aggregates (kept forever by default) still count every request.
    assert query(data_dir, "select count(*) from events") == [(0,)]
    assert query(data_dir, "select sum(hits) from daily_traffic") == [(10_000,)]
