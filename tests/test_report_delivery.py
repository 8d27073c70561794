"""Report delivery to a real HTTP server on 127.0.0.1 (pytest-httpserver), through the report DAG."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import shared_log
from test_end_to_end import INGEST_DATE, run_dag
from werkzeug import Response

REPORT_END = dt.datetime(2015, 5, 19, 14, 30, tzinfo=dt.UTC)
REPORT_NAME = "visits-20150519T140000Z-20150519T143000Z"


@pytest.fixture
def ingested(dagbag, footfall_env):
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    run_dag(dagbag, "footfall_ingest", INGEST_DATE)
    return data_dir


def _enable(footfall_env, httpserver, **extra):
    footfall_env(
        VISIT_TRACKING_ENABLED="true",
        VISIT_TRACKING_API=httpserver.url_for("/api/visits"),
        VISIT_TRACKING_API_TOKEN="token-for-tests",
        FOOTFALL_REPORT_TIMEOUT_S="2",
        **extra,
    )


def test_report_is_posted_once_with_the_built_payload(dagbag, footfall_env, ingested, httpserver):
    _enable(footfall_env, httpserver)
    httpserver.expect_oneshot_request("/api/visits", method="POST").respond_with_data("accepted", status=202)

    run_dag(dagbag, "footfall_report", REPORT_END)

    httpserver.check_assertions()
    (request, _response), *others = httpserver.log
    assert others == []
    built = (ingested / "reports" / f"{REPORT_NAME}.json").read_bytes()
    assert request.get_data() == built
    payload = json.loads(built)
    assert payload["timestamp"] == "2015-05-19T14:30:00Z" and list(payload["data"]) == ["2015-05-19 14"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == REPORT_NAME
    assert request.headers["Authorization"] == "Bearer token-for-tests"
    assert not (ingested / "outbox").exists()


def test_server_errors_and_throttling_are_retried_until_accepted(dagbag, footfall_env, ingested, httpserver):
    _enable(footfall_env, httpserver)
    httpserver.expect_ordered_request("/api/visits", method="POST").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/api/visits", method="POST").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/api/visits", method="POST").respond_with_data("ok", status=200)

    run_dag(dagbag, "footfall_report", REPORT_END)

    httpserver.check_assertions()
    bodies = {req.get_data() for req, _ in httpserver.log}
    keys = {req.headers["Idempotency-Key"] for req, _ in httpserver.log}
    assert len(httpserver.log) == 3 and len(bodies) == 1 and keys == {REPORT_NAME}


def test_a_rejected_report_fails_the_task(dagbag, footfall_env, ingested, httpserver):
    _enable(footfall_env, httpserver)
    httpserver.expect_request("/api/visits", method="POST").respond_with_data('{"error": "bad schema"}', status=400)

    run = dagbag.get_dag("footfall_report").test(logical_date=REPORT_END)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"wait_for_ingest": "success", "build_report": "success", "deliver_report": "failed"}
    assert len(httpserver.log) == 1  # a 400 is final: not retried
