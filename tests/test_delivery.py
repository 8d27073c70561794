"""Report delivery against a real HTTP server on 127.0.0.1 that fails on purpose, under a
controlled clock: retries, backoff, Retry-After, timeouts, refused connections, a two-hour
outage, refusals and operator commands, crashes between the POST and the record.

Every report must reach the receiver exactly once (by Idempotency-Key), in interval order
per kind, with the payload byte for byte as queued; every body is checked against its JSON
Schema by the receiver (``receiver.schema_errors``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import io
import random
import shutil

import httpx
import pytest
from outbox_helpers import HALF_HOUR, FakeClock, ingested_apache_logs, make_settings, outbox_rows
from receiver import Receiver, Reply

from warehouse import outbox, publish, report, storage
from warehouse.cli import outbox as outbox_cli

TOKEN = "tok-7f3a9c1e5b2d4a68"
DAY = dt.datetime(2015, 5, 19, tzinfo=dt.UTC)  # apache_logs has page views in every hour of it


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return ingested_apache_logs(tmp_path_factory)


@pytest.fixture
def receiver():
    with Receiver(token=TOKEN) as r:
        yield r


@pytest.fixture
def configure(template, tmp_path, receiver):
    """Settings for a fresh copy of the ingested warehouse, reporting to ``receiver``."""
    shutil.copytree(template / "data", tmp_path / "data")

    def make(**env: str):
        values = {
            "VISIT_TRACKING_ENABLED": "true",
            "VISIT_TRACKING_API": receiver.url(),
            "VISIT_TRACKING_API_TOKEN": TOKEN,
            "FOOTFALL_REPORT_TIMEOUT_S": "0.3",
            "FOOTFALL_REPORT_CONNECT_TIMEOUT_S": "0.3",
            **env,
        }
        return make_settings(tmp_path / "data", tmp_path / "secrets", **values)

    return make


def build(settings, clock: FakeClock, *ends: dt.datetime) -> list[str]:
    """Queue the visits report of each half hour ending at ``ends``, with the clock at each end + 1 min."""
    ids = []
    for end in ends:
        clock.now = max(clock.now, end + dt.timedelta(minutes=1))
        ids.append(report.build_visits_report(settings, end - HALF_HOUR, end, clock=clock))
    return ids


def run(settings, clock: FakeClock, seed: int = 0) -> dict:
    """One delivery run (claim, send, record) at the clock's now."""
    return publish.deliver_due(settings, clock=clock, sleep=clock.sleep, rng=random.Random(seed))


def hours(*h: float) -> list[dt.datetime]:
    return [DAY + dt.timedelta(hours=x) for x in h]


def assert_arrived_exactly_once(receiver: Receiver, settings, ids: list[str]) -> None:
    """Each id stored once by the receiver, in this order, with the queued bytes; all delivered."""
    assert receiver.order == ids
    assert receiver.schema_errors == []
    rows = outbox_rows(settings)
    for rid in ids:
        assert receiver.stored[rid] == rows[rid]["payload"].encode("utf-8")
        assert rows[rid]["status"] == "delivered"


@pytest.mark.real_logs
def test_due_reports_arrive_once_in_order_with_the_exact_payload(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    daily = report.build_daily_summaries(settings, DAY - dt.timedelta(days=1), DAY, clock=clock)
    visits = build(settings, clock, *hours(12.5, 13, 13.5, 14, 14.5))

    assert run(settings, clock) == {"delivered": 6, "retry": 0, "rejected": 0, "released": 0}

    # Oldest interval first: the summary of the 18th, then the half hours of the 19th.
    assert_arrived_exactly_once(receiver, settings, daily + visits)
    con = storage.connect(settings.data_dir, read_only=True)
    try:
        for rid, end in zip(visits, hours(12.5, 13, 13.5, 14, 14.5), strict=True):
            rebuilt = report.dump_payload(report.build_hourly_report(con, end - HALF_HOUR, end))
            assert receiver.stored[rid] == rebuilt
    finally:
        con.close()
    for seen in receiver.seen:
        assert seen.headers["Idempotency-Key"] == seen.key
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["Footfall-Report-Kind"] == seen.key.split("-")[0]
        assert "Footfall-Signature" not in seen.headers  # no signing secret configured
    rows = outbox_rows(settings)
    assert {r["attempts"] for r in rows.values()} == {1}
    assert {r["delivered_at"] for r in rows.values()} == {clock.now}

    # A delivered report is never sent again: not by a later run, not after a rebuild.
    assert run(settings, clock.advance(minutes=30)) == {"delivered": 0, "retry": 0, "rejected": 0, "released": 0}
    report.build_visits_report(settings, *hours(12, 12.5), clock=clock)
    run(settings, clock.advance(minutes=30))
    assert len(receiver.seen) == 6


@pytest.mark.real_logs
def test_server_errors_are_retried_with_exponential_backoff_and_jitter(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    ids = build(settings, clock, *hours(14.5))
    receiver.then(Reply(500), Reply(503), Reply(502))

    assert run(settings, clock)["delivered"] == 1

    assert receiver.keys_seen() == ids * 4
    assert len({s.body for s in receiver.seen}) == 1
    assert [s.status for s in receiver.seen] == [500, 503, 502, 200]
    # Waits after attempts 1, 2, 3: a uniform draw in [d/2, d] with d = 1, 2, 4 s.
    assert len(clock.slept) == 3
    for wait, d in zip(clock.slept, (1, 2, 4), strict=True):
        assert d / 2 <= wait <= d
    assert_arrived_exactly_once(receiver, settings, ids)
    assert outbox_rows(settings)[ids[0]]["attempts"] == 4


@pytest.mark.real_logs
@pytest.mark.parametrize("retry_after", ["120", "http-date"])
def test_throttling_honours_retry_after_and_holds_back_later_reports(configure, receiver, retry_after):
    settings = configure()
    clock = FakeClock(DAY)
    ids = build(settings, clock, *hours(13, 13.5, 14))
    if retry_after == "http-date":
        retry_after = email.utils.format_datetime(clock.now + dt.timedelta(seconds=120), usegmt=True)
    receiver.then(Reply(429, headers={"Retry-After": retry_after}, body=b"slow down"))

    assert run(settings, clock) == {"delivered": 0, "retry": 1, "rejected": 0, "released": 2}
    first = outbox_rows(settings)[ids[0]]
    assert first["status"] == "pending" and first["attempts"] == 1 and first["last_http_status"] == 429
    assert first["last_error"] == "HTTP 429: slow down"
    assert clock.now + dt.timedelta(seconds=119) <= first["next_attempt_at"] <= clock.now + dt.timedelta(seconds=121)
    assert clock.slept == []  # a long Retry-After is scheduled, not slept in the task

    # Still throttled a minute later: the later reports must not overtake the first one.
    run(settings, clock.advance(seconds=60))
    assert receiver.keys_seen() == ids[:1]

    run(settings, clock.advance(seconds=61))
    assert_arrived_exactly_once(receiver, settings, ids)
    assert receiver.keys_seen() == [ids[0], *ids]


@pytest.mark.real_logs
def test_a_response_slower_than_the_timeout_is_sent_again_under_the_same_key(configure, receiver):
    settings = configure()  # read timeout 0.3 s
    clock = FakeClock(DAY)
    ids = build(settings, clock, *hours(14.5))
    # The receiver stores the report, then answers after the client has given up.
    receiver.then(Reply(200, delay=0.8))

    assert run(settings, clock)["delivered"] == 1

    assert receiver.keys_seen() == ids * 2
    assert_arrived_exactly_once(receiver, settings, ids)
    row = outbox_rows(settings)[ids[0]]
    assert row["attempts"] == 2


@pytest.mark.real_logs
def test_connection_refused_and_dropped_connections_are_retried(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    ids = build(settings, clock, *hours(14, 14.5))
    receiver.stop()

    assert run(settings, clock) == {"delivered": 0, "retry": 1, "rejected": 0, "released": 1}
    first = outbox_rows(settings)[ids[0]]
    assert first["attempts"] == 5  # FOOTFALL_REPORT_ATTEMPTS tries in one run, 4 short waits
    assert first["last_error"].startswith("ConnectError") and first["last_http_status"] is None
    assert len(clock.slept) == 4
    wait = (first["next_attempt_at"] - clock.now).total_seconds()
    assert 8 <= wait <= 16  # backoff after the 5th attempt

    receiver.start()  # same port
    receiver.then(Reply(drop=True))  # the first request is cut off without an answer
    run(settings, clock.advance(minutes=30))
    assert receiver.keys_seen() == [ids[0], *ids]
    assert_arrived_exactly_once(receiver, settings, ids)
    assert outbox_rows(settings)[ids[0]]["attempts"] == 7


@pytest.mark.real_logs
def test_a_two_hour_outage_loses_nothing_and_keeps_the_order(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY + dt.timedelta(hours=8))
    daily = report.build_daily_summaries(settings, DAY - dt.timedelta(days=1), DAY, clock=clock)
    receiver.stop()  # first hour: nothing listens
    visits, runs = [], []
    for i, end in enumerate(hours(8.5, 9, 9.5, 10)):  # a delivery run after each report, every 30 min
        if i == 2:  # second hour: the server is back but answers 503 to everything
            receiver.outage = Reply(503, headers={"Retry-After": "600"})
            receiver.start()
        visits += build(settings, clock, end)
        started = clock.now
        runs.append(run(settings, clock, seed=i))
        assert clock.now - started < dt.timedelta(minutes=1)  # short waits only, then it gives up
    assert receiver.stored == {}
    assert {s.key for s in receiver.seen} <= {visits[0], daily[0]}  # only the head of each kind is tried
    assert all(r["delivered"] == 0 and r["retry"] == 2 for r in runs)
    assert outbox_rows(settings)[visits[0]]["attempts"] > 4

    receiver.outage = None  # two hours after it began, the API is back
    visits += build(settings, clock, *hours(10.5))
    assert run(settings, clock) == {"delivered": 6, "retry": 0, "rejected": 0, "released": 0}

    assert_arrived_exactly_once(receiver, settings, daily + visits)
    assert all(s.status == 503 for s in receiver.seen[:-6])
    # Everything that was never refused by the outage went over the wire exactly once.
    assert [s.key for s in receiver.seen[-6:]] == daily + visits
    assert run(settings, clock.advance(minutes=30))["delivered"] == 0


@pytest.mark.real_logs
def test_a_refused_report_fails_loudly_and_blocks_its_kind_until_an_operator_retries(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    visits = build(settings, clock, *hours(13, 13.5))
    # The summary of the 20th: a later interval than the visits reports, so they go first.
    daily = report.build_daily_summaries(settings, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2), clock=clock)
    receiver.then(Reply(400, body=b'{"error":"unknown field"}'))

    with pytest.raises(outbox.DeliveryRejected) as refused:
        run(settings, clock)

    message = str(refused.value)
    assert f'report {visits[0]} was refused by the reporting API: HTTP 400: {{"error":"unknown field"}}' in message
    assert "python -m warehouse.cli outbox retry" in message
    rows = outbox_rows(settings)
    assert rows[visits[0]]["status"] == "failed" and rows[visits[0]]["last_http_status"] == 400
    assert rows[visits[0]]["last_error"] == 'HTTP 400: {"error":"unknown field"}'
    assert rows[visits[1]]["status"] == "pending" and rows[visits[1]]["attempts"] == 0
    assert receiver.order == daily  # the other kind is not held back
    assert receiver.keys_seen() == [visits[0], daily[0]]  # a 400 is not retried

    # Every run fails until an operator acts, and sends nothing of the blocked kind.
    with pytest.raises(outbox.DeliveryRejected):
        run(settings, clock.advance(minutes=30))
    assert len(receiver.seen) == 2

    out = io.StringIO()
    outbox_cli.move_report(settings, visits[0], "retry", clock(), out=out)
    assert out.getvalue() == f"{visits[0]}: failed -> pending; the next delivery run sends it\n"
    assert run(settings, clock.advance(minutes=1))["delivered"] == 2
    assert_arrived_exactly_once(receiver, settings, [*daily, *visits])


@pytest.mark.real_logs
def test_operator_commands_list_show_and_discard(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    visits = build(settings, clock, *hours(13, 13.5))
    receiver.then(Reply(422, body=b"no"))
    with pytest.raises(outbox.DeliveryRejected):
        run(settings, clock)

    out = io.StringIO()
    outbox_cli.list_outbox(settings, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(visits[0]) and " failed " in lines[0] and "last: HTTP 422: no" in lines[0]
    assert lines[1].startswith(visits[1]) and " pending " in lines[1]
    assert lines[2] == "visits/failed: 1  visits/pending: 1"
    out = io.StringIO()
    outbox_cli.show_report(settings, visits[0], out=out)
    assert "status: failed\n" in out.getvalue() and "last_error: HTTP 422: no\n" in out.getvalue()
    assert out.getvalue().endswith(f"payload: {outbox_rows(settings)[visits[0]]['payload']}\n")

    outbox_cli.move_report(settings, visits[0], "discard", clock(), out=io.StringIO())
    assert run(settings, clock.advance(minutes=1))["delivered"] == 1
    assert receiver.order == visits[1:]
    assert outbox_rows(settings)[visits[0]]["status"] == "discarded"
    # Wrong states and unknown ids are refused with a message (one line from the command line).
    with pytest.raises(outbox.OutboxError):
        outbox_cli.move_report(settings, visits[1], "retry", clock(), out=io.StringIO())
    with pytest.raises(outbox.OutboxError):
        outbox_cli.move_report(settings, "visits-nope", "discard", clock(), out=io.StringIO())


def claim_and_send_then_die(settings, clock: FakeClock) -> tuple[list[str], dict]:
    """Two reports claimed and POSTed by a delivery run that dies before record_deliveries."""
    ids = build(settings, clock, *hours(14, 14.5))
    claimed = outbox.claim(settings, now=clock())
    publish.send_claim(settings, claimed["spool"], clock=clock, sleep=clock.sleep)
    return ids, claimed


@pytest.mark.real_logs
def test_a_delivery_run_that_dies_after_posting_is_taken_over_without_sending_again(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    ids, claimed = claim_and_send_then_die(settings, clock)
    assert {r["status"] for r in outbox_rows(settings).values()} == {"sending"}

    # While the claim's lease runs, its reports (and the later ones of the kind) wait.
    assert run(settings, clock.advance(minutes=10)) == {"delivered": 0, "retry": 0, "rejected": 0, "released": 0}

    run(settings, clock.advance(hours=1))  # lease over: the outcomes in the spool are applied
    assert receiver.keys_seen() == ids
    assert_arrived_exactly_once(receiver, settings, ids)
    assert not (settings.data_dir / "delivery" / claimed["claim_id"]).exists()


@pytest.mark.real_logs
def test_a_run_that_dies_before_writing_the_outcome_sends_again_with_the_same_key(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    ids, claimed = claim_and_send_then_die(settings, clock)
    # It died after the 2xx arrived but before the outcome reached the disk.
    (settings.data_dir / "delivery" / claimed["claim_id"] / "results.jsonl").unlink()

    run(settings, clock.advance(hours=1, minutes=1))

    # At least once on the wire, with the same key and bytes; once at the receiver.
    assert receiver.keys_seen() == ids + ids
    assert receiver.seen[0].body == receiver.seen[2].body
    assert_arrived_exactly_once(receiver, settings, ids)


@pytest.mark.real_logs
def test_a_run_out_of_time_leaves_the_rest_for_the_next_run(configure, receiver):
    settings = configure()
    clock = FakeClock(DAY)
    ids = build(settings, clock, *hours(14, 14.5))
    claimed = outbox.claim(settings, now=clock())
    clock.advance(minutes=31)  # past half the lease: no new POST may start

    assert publish.send_claim(settings, claimed["spool"], clock=clock)["not_tried"] == 2
    assert outbox.record(settings, claimed["claim_id"])["released"] == 2
    assert receiver.seen == []
    run(settings, clock)
    assert_arrived_exactly_once(receiver, settings, ids)


@pytest.mark.real_logs
def test_requests_are_signed_over_the_timestamp_and_the_body(configure, receiver):
    secret = "sig-0b6e2f9d41c84a7e"
    settings = configure(VISIT_TRACKING_SIGNING_SECRET=secret)
    clock = FakeClock(DAY)
    build(settings, clock, *hours(14.5))
    run(settings, clock)

    (seen,) = receiver.seen
    fields = dict(part.split("=", 1) for part in seen.headers["Footfall-Signature"].split(","))
    assert int(fields["t"]) == int(clock.now.timestamp())
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + seen.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["sha256"], expected)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "final"), (401, "final"), (404, "final"), (409, "final"), (301, "final"),
     (408, "retry"), (429, "retry"), (500, "retry"), (503, "retry"), (200, "ok"), (204, "ok")],
)  # fmt: skip
def test_statuses_are_classified_as_the_issue_says(receiver, status, kind):
    receiver.then(Reply(status, headers={"Location": "/elsewhere"} if status == 301 else {}))
    body = b'{"timestamp":"2015-05-19T14:30:00Z","reporting_interval_seconds":1800,"data":{}}'
    headers = {"Idempotency-Key": "k", "Footfall-Report-Kind": "visits", "Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=2, follow_redirects=False) as client:
        attempt = publish.post_once(client, receiver.url(), body, headers, dt.datetime.now(dt.UTC))
    assert (attempt.kind, attempt.status) == (kind, status)


def test_backoff_is_exponential_with_jitter_and_capped():
    rng = random.Random(42)
    for attempt in range(1, 40):
        d = min(900.0, 2.0 ** (attempt - 1))
        draws = {publish.backoff_seconds(attempt, 900.0, rng) for _ in range(20)}
        assert all(d / 2 <= w <= d for w in draws)
        assert len(draws) > 1  # jitter
    assert publish.backoff_seconds(10**6, 900.0, rng) <= 900.0


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    now = dt.datetime(2015, 5, 19, 12, tzinfo=dt.UTC)
    assert publish.retry_after_seconds("120", now) == 120.0
    assert publish.retry_after_seconds("Tue, 19 May 2015 12:02:00 GMT", now) == 120.0
    assert publish.retry_after_seconds("Tue, 19 May 2015 11:00:00 GMT", now) == 0.0
    assert publish.retry_after_seconds("soon", now) is None
    assert publish.retry_after_seconds(None, now) is None
