"""The minimal receiver in docs/receivers/contract.md, executed as written, against footfall's delivery:
the documented example must accept footfall's signed reports and refuse forgeries."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
import time

import httpx
import pytest
from conftest import REPO
from outbox_helpers import HALF_HOUR, ingested_apache_logs, make_settings, outbox_rows

from warehouse.reporting import delivery, outbox, reports

pytestmark = pytest.mark.real_logs

TOKEN, SECRET = "example-token-41d2", "example-signing-9c3e"
DAY = dt.datetime(2015, 5, 19, tzinfo=dt.UTC)


def example_source() -> str:
    text = (REPO / "docs" / "receivers" / "contract.md").read_text()
    (source,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Minimal receiver for footfall" in b]
    return source


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return ingested_apache_logs(tmp_path_factory)


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The documented receiver on 127.0.0.1, storing into tmp_path/received."""
    store = tmp_path / "received"
    store.mkdir()
    monkeypatch.setenv("RECEIVER_DIR", str(store))
    monkeypatch.setenv("RECEIVER_TOKEN", TOKEN)
    monkeypatch.setenv("RECEIVER_SIGNING_SECRET", SECRET)
    namespace = {"__name__": "receiver_example"}
    exec(compile(example_source(), "docs/receivers/contract.md", "exec"), namespace)  # noqa: S102 - our own docs
    namespace["Handler"].log_message = lambda *args: None
    server = namespace["HTTPServer"](("127.0.0.1", 0), namespace["Handler"])
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", store
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(template, tmp_path, example):
    shutil.copytree(template / "data", tmp_path / "data")
    url, _ = example
    return make_settings(
        tmp_path / "data",
        tmp_path / "secrets",
        VISIT_TRACKING_ENABLED="true",
        VISIT_TRACKING_API=f"{url}/reports",
        VISIT_TRACKING_API_TOKEN=TOKEN,
        VISIT_TRACKING_SIGNING_SECRET=SECRET,
        FOOTFALL_REPORT_TIMEOUT_S="2",
    )


def test_footfall_delivers_to_the_documented_receiver(settings, example):
    url, store = example
    ends = [DAY + dt.timedelta(hours=14) + HALF_HOUR * i for i in (1, 2, 3)]
    visits = [reports.build_visits_report(settings, end - HALF_HOUR, end) for end in ends]
    daily = reports.build_daily_summaries(settings, DAY, DAY + dt.timedelta(days=1))

    assert delivery.deliver_due(settings)["delivered"] == 4  # real clock: the receiver checks freshness

    rows = outbox_rows(settings)
    assert sorted(p.stem for p in store.glob("*.json")) == sorted(visits + daily)
    for rid in visits + daily:
        assert (store / f"{rid}.json").read_text() == rows[rid]["payload"]
    expected: dict[str, int] = {}
    for rid in visits:
        for hour, bucket in json.loads(rows[rid]["payload"])["data"].items():
            expected[hour] = expected.get(hour, 0) + bucket["count"]
    assert httpx.get(f"{url}/hours").json() == expected


def test_the_documented_receiver_refuses_forgeries_and_replays(settings, example):
    url, _ = example
    rid = reports.build_visits_report(settings, DAY, DAY + HALF_HOUR)
    body = outbox_rows(settings)[rid]["payload"].encode()
    now = dt.datetime.now(dt.UTC)

    def post(headers: dict) -> tuple[int, dict]:
        response = httpx.post(f"{url}/reports", content=body, headers=headers)
        return response.status_code, response.json()

    good = delivery.request_headers(settings, rid, "visits", body, now)
    assert post(good) == (200, {"status": "stored", "key": rid})
    assert post(good) == (200, {"status": "duplicate", "key": rid})
    forged = good | {"Footfall-Signature": good["Footfall-Signature"][:-4] + "0000"}
    assert post(forged)[0] == 401
    stale = delivery.request_headers(settings, rid, "visits", body, now - dt.timedelta(hours=1))
    assert post(stale)[0] == 401
    assert post(good | {"Authorization": "Bearer nope"})[0] == 401
    assert post(good | {"Idempotency-Key": "../../etc/passwd"})[0] == 400

    # footfall with the wrong secret: refused (401 is final), the run fails with the reason.
    wrong = make_settings(
        settings.data_dir,
        settings.secrets_dir,
        VISIT_TRACKING_ENABLED="true",
        VISIT_TRACKING_API=f"{url}/reports",
        VISIT_TRACKING_API_TOKEN=TOKEN,
        VISIT_TRACKING_SIGNING_SECRET="not-the-secret",
    )
    reports.build_visits_report(wrong, DAY + HALF_HOUR, DAY + 2 * HALF_HOUR)
    started = time.monotonic()
    with pytest.raises(outbox.DeliveryRejected, match="HTTP 401: .*wrong or stale signature"):
        delivery.deliver_due(wrong)
    assert time.monotonic() - started < 5
