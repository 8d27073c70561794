"""The pipeline under real Airflow (dag.test) on a real log, checked against an independent oracle."""

from __future__ import annotations

import collections
import datetime as dt
import json

import duckdb
import pytest
from conftest import shared_log
from oracle import country, daily, is_page_view, read_hits, stored_user_agent

from warehouse.snapshot import definitions_version

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

INGEST_DATE = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
# A half hour of apache_logs with page views from several paths and user agents.
REPORT_END = dt.datetime(2015, 5, 19, 14, 30, tzinfo=dt.UTC)


def run_dag(dagbag, dag_id: str, logical_date: dt.datetime):
    run = dagbag.get_dag(dag_id).test(logical_date=logical_date)
    # dag.test() does not raise when a task fails: the run's state says.
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    return run


def snapshot(data_dir):
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        tables = {
            t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr)
            for t in ("daily_traffic", "status_daily", "page_daily", "hourly_traffic", "ingest_sources", "ingest_files")
        }
        tables["events"] = con.execute("select count(*), sum(visitor_id), sum(line_number) from events").fetchall()
    finally:
        con.close()
    # Every run publishes a new snapshot generation (warehouse/snapshot.py): not a change of the data.
    files = sorted(
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file() and p.suffix != ".wal" and p.name != "analytics.duckdb" and p.parent.name != "snapshots"
    )
    return tables, files


@pytest.fixture(scope="module")
def apache_hits():
    return read_hits(shared_log("apache_logs"))


def test_ingest_and_report_on_a_real_log(dagbag, footfall_env, apache_hits):
    # Crawlers counted: the oracle reads lines, it does not classify user agents
    # (crawler exclusion is tested in test_visitor_metrics.py).
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")), FOOTFALL_COUNT_CRAWLERS="true")
    ingest_run = run_dag(dagbag, "footfall_ingest", INGEST_DATE)

    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    rows = con.execute("select day, hits, page_views, visitors, bytes from daily_traffic order by day").fetchall()
    expected = daily(apache_hits)
    assert {r[0]: {"hits": r[1], "page_views": r[2], "visitors": r[3], "bytes": r[4]} for r in rows} == expected

    statuses = dict(con.execute("select status, sum(hits) from status_daily group by all").fetchall())
    assert statuses == collections.Counter(h.status for h in apache_hits)

    pages = con.execute("select path, sum(page_views) from page_daily group by all").fetchall()
    assert dict(pages) == collections.Counter(h.path for h in apache_hits if is_page_view(h))
    assert con.execute("select count(*) from quarantine").fetchone() == (0,)
    quality = con.execute("select lines_read, lines_parsed, lines_quarantined from data_quality").fetchall()
    assert quality == [(10_000, 10_000, 0)]
    con.close()

    run_dag(dagbag, "footfall_report", REPORT_END)
    outbox = list((data_dir / "outbox").glob("*.json"))
    assert [p.name for p in outbox] == ["visits-20150519T140000Z-20150519T143000Z.json"]
    payload = json.loads(outbox[0].read_bytes())

    start = REPORT_END - dt.timedelta(minutes=30)
    in_interval = [h for h in apache_hits if start <= h.ts < REPORT_END and is_page_view(h)]
    assert len(in_interval) > 10
    # Where the numbers come from: the newest line of the log, the ingest run that committed it.
    assert payload.pop("source") == {
        "data_as_of": max(h.ts for h in apache_hits).astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "ingest_run_id": ingest_run.run_id,
        "definitions_version": definitions_version(),
    }
    assert payload == {
        "timestamp": "2015-05-19T14:30:00Z",
        "reporting_interval_seconds": 1800,
        "data": {
            "2015-05-19 14": {
                "count": len(in_interval),
                "paths": dict(collections.Counter(h.path for h in in_interval)),
                "user_agents": dict(collections.Counter(stored_user_agent(h.user_agent) for h in in_interval)),
                "countries": dict(collections.Counter(country(h.ip) for h in in_interval)),
            }
        },
    }


def test_running_the_same_intervals_again_changes_nothing(dagbag, footfall_env):
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    run_dag(dagbag, "footfall_ingest", INGEST_DATE)
    run_dag(dagbag, "footfall_report", REPORT_END)
    report = (data_dir / "outbox" / "visits-20150519T140000Z-20150519T143000Z.json").read_bytes()
    before = snapshot(data_dir)

    run = run_dag(dagbag, "footfall_ingest", INGEST_DATE)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {
        "check_environment": "success",
        "purge_old_salts": "success",
        "plan_sources": "success",
        "plan_units": "success",
        "parse_source": "skipped",
        "commit_sources": "success",
        "rebuild_aggregates": "success",
    }
    run_dag(dagbag, "footfall_report", REPORT_END)

    assert snapshot(data_dir) == before
    assert (data_dir / "outbox" / "visits-20150519T140000Z-20150519T143000Z.json").read_bytes() == report
