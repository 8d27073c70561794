"""The report, daily-summary and delivery DAGs under real Airflow (dag.test), posting to a real
HTTP server on 127.0.0.1: secrets from an Airflow Connection, never in a log or the data dir;
a refusal fails the delivery run with its reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging

import pytest
from conftest import shared_log
from outbox_helpers import ingest_log, outbox_rows
from receiver import Receiver, Reply

from warehouse.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

REPORT_END = dt.datetime(2015, 5, 19, 14, 30, tzinfo=dt.UTC)
REPORT_ID = "visits-20150519T140000Z-20150519T143000Z"
SUMMARY_END = dt.datetime(2015, 5, 20, tzinfo=dt.UTC)
SUMMARY_ID = "daily_summary-20150519T000000Z-20150520T000000Z"
DELIVERY_DATE = dt.datetime(2015, 5, 20, 0, 30, tzinfo=dt.UTC)
CONN_TOKEN, CONN_SECRET = "conn-token-3b9d61f0a2c4", "conn-signing-8e1f0c7a55d2"
ENV_TOKEN, ENV_SECRET = "env-token-5c2a90d7e4b1", "env-signing-1a7b3e9f60c8"
SECRETS = (CONN_TOKEN, CONN_SECRET, ENV_TOKEN, ENV_SECRET)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def records():
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
def receiver():
    with Receiver(token=CONN_TOKEN) as r:
        yield r


@pytest.fixture
def reporting(footfall_env, receiver, monkeypatch, tmp_path):
    """An ingested warehouse, reporting enabled, secrets in the environment and in the Connection."""
    data_dir = footfall_env()
    ingest_log(data_dir, tmp_path / "secrets", shared_log("apache_logs"))
    footfall_env(
        VISIT_TRACKING_ENABLED="true",
        VISIT_TRACKING_API=receiver.url(),
        VISIT_TRACKING_API_TOKEN=ENV_TOKEN,
        VISIT_TRACKING_SIGNING_SECRET=ENV_SECRET,
        FOOTFALL_REPORT_TIMEOUT_S="2",
    )
    conn = {"conn_type": "http", "password": CONN_TOKEN, "extra": {"signing_secret": CONN_SECRET}}
    monkeypatch.setenv("AIRFLOW_CONN_REPORTING_API", json.dumps(conn))
    return data_dir


def run(dagbag, dag_id: str, logical_date: dt.datetime):
    return dagbag.get_dag(dag_id).test(logical_date=logical_date)


def states(run_) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run_.get_task_instances()}


def assert_no_secret_anywhere(data_dir, airflow_home, text: str) -> None:
    """No secret in the captured output and log records, the Airflow logs, or the data dir
    (raw bytes of every file, and every value of the outbox)."""
    places = {"captured output and log records": text}
    for path in (airflow_home / "logs").rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("latin-1")
    for path in data_dir.rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("latin-1")
    places["report_outbox"] = repr(outbox_rows(Settings.from_env()))
    for secret in SECRETS:
        for where, content in places.items():
            assert secret not in content, f"a secret reached {where}"


def test_reports_are_built_queued_and_posted_once_with_connection_secrets(
    dagbag, reporting, receiver, airflow_db, records, capfd
):
    built = run(dagbag, "footfall_report", REPORT_END)
    assert states(built) == {"wait_for_ingest": "success", "build_report": "success"}
    assert states(run(dagbag, "footfall_daily_summary", SUMMARY_END)) == {
        "wait_for_ingest": "success",
        "build_daily_summary": "success",
    }
    delivery = run(dagbag, "footfall_delivery", DELIVERY_DATE)
    assert delivery.state == "success", states(delivery)

    assert receiver.order == [SUMMARY_ID, REPORT_ID] and receiver.schema_errors == []
    rows = outbox_rows(Settings.from_env())
    for seen in receiver.seen:
        assert seen.body == rows[seen.key]["payload"].encode()
        assert seen.headers["Authorization"] == f"Bearer {CONN_TOKEN}"  # the Connection wins
        fields = dict(part.split("=", 1) for part in seen.headers["Footfall-Signature"].split(","))
        signed = fields["t"].encode() + b"." + seen.body
        assert fields["sha256"] == hmac.new(CONN_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert {r["status"] for r in rows.values()} == {"delivered"}
    assert not (reporting / "outbox").exists()  # reporting is on: no outbox files

    # A delivery run with nothing due sends nothing; rebuilding a delivered report sends nothing.
    run(dagbag, "footfall_report", REPORT_END)
    again = run(dagbag, "footfall_delivery", DELIVERY_DATE + dt.timedelta(minutes=30))
    assert again.state == "success" and len(receiver.seen) == 2

    out, err = capfd.readouterr()
    assert_no_secret_anywhere(reporting, airflow_db, out + err + "\n".join(records.lines))


def test_a_refused_report_fails_the_delivery_run_with_its_reason(
    dagbag, reporting, receiver, airflow_db, records, capfd
):
    # A receiver that echoes the request's Authorization header back in its refusal.
    body = json.dumps({"error": "field 'data' rejected", "auth": f"Bearer {CONN_TOKEN}"}).encode()
    receiver.then(Reply(400, body=body))
    run(dagbag, "footfall_report", REPORT_END)

    delivery = run(dagbag, "footfall_delivery", DELIVERY_DATE)

    assert delivery.state == "failed"
    assert states(delivery) == {"claim_reports": "success", "post_reports": "success", "record_deliveries": "failed"}
    assert len(receiver.seen) == 1  # a 400 is final: not retried
    row = outbox_rows(Settings.from_env())[REPORT_ID]
    reason = """HTTP 400: {"error": "field 'data' rejected", "auth": "Bearer [redacted]"}"""
    assert (row["status"], row["last_error"]) == ("failed", reason)
    out, err = capfd.readouterr()
    assert f"AirflowFailException: report {REPORT_ID} was refused by the reporting API: {reason}" in out + err
    assert_no_secret_anywhere(reporting, airflow_db, out + err + "\n".join(records.lines))


def test_with_reporting_disabled_reports_go_to_the_outbox_folder_and_nothing_is_sent(dagbag, footfall_env, tmp_path):
    data_dir = footfall_env()
    ingest_log(data_dir, tmp_path / "secrets", shared_log("apache_logs"))

    run(dagbag, "footfall_report", REPORT_END)
    delivery = run(dagbag, "footfall_delivery", DELIVERY_DATE)

    assert delivery.state == "success"
    row = outbox_rows(Settings.from_env())[REPORT_ID]
    assert row["status"] == "pending"
    assert (data_dir / "outbox" / f"{REPORT_ID}.json").read_text() == row["payload"]
    assert not (data_dir / "delivery").exists()
