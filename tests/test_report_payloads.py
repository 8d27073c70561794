"""Report payloads: content checked against an independent oracle on a real log, the JSON
Schemas in schemas/, the top-N bound, idempotent building, and the reporting settings."""

from __future__ import annotations

import collections
import datetime as dt
import json
import random

import duckdb
import jsonschema
import pytest
from conftest import REPO, shared_log
from oracle import country, daily, is_page_view, read_hits, stored_user_agent
from outbox_helpers import HALF_HOUR, FakeClock, ingest_log, ingested_apache_logs, make_settings, outbox_rows

from warehouse.reporting import outbox, reports
from warehouse.settings import ConfigError, Settings

DAY = dt.datetime(2015, 5, 19, tzinfo=dt.UTC)
VALIDATORS = {
    kind: jsonschema.Draft202012Validator(json.loads((REPO / "schemas" / f"{kind}.schema.json").read_text()))
    for kind in ("visits", "daily_summary")
}


def expected_top(counter: collections.Counter, n: int, max_len: int | None = None) -> dict:
    """The top-N rule as docs/receivers/contract.md states it, written out independently."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [(k, v) for k, v in ranked if k != "(other)" and (max_len is None or len(k) <= max_len)][:n]
    rest = sum(counter.values()) - sum(v for _, v in shown)
    return dict(shown) | ({"(other)": rest} if len(shown) < len(ranked) else {})


@pytest.fixture(scope="module")
def apache(tmp_path_factory):
    return ingested_apache_logs(tmp_path_factory), read_hits(shared_log("apache_logs"))


def payloads(settings, kind: str) -> dict[str, dict]:
    return {rid: json.loads(row["payload"]) for rid, row in outbox_rows(settings).items() if row["kind"] == kind}


@pytest.mark.real_logs
@pytest.mark.parametrize("top_n", [50, 3])
def test_visits_payloads_match_the_oracle_and_the_schema(apache, tmp_path, top_n):
    root, hits = apache
    settings = make_settings(
        root / "data", tmp_path / "secrets", FOOTFALL_REPORT_TOP_N=str(top_n), FOOTFALL_COUNT_CRAWLERS="true"
    )
    # Every half hour of the day; with the small top N, the busy morning is enough.
    ends = [DAY + HALF_HOUR * i for i in (range(1, 49) if top_n == 50 else range(17, 29))]
    clock = FakeClock(DAY)
    ids = [reports.build_visits_report(settings, end - HALF_HOUR, end, clock=clock) for end in ends]

    built = payloads(settings, "visits")
    other_seen = False
    for rid, end in zip(ids, ends, strict=True):
        payload = built[rid]
        VALIDATORS["visits"].validate(payload)
        views = [h for h in hits if end - HALF_HOUR <= h.ts < end and is_page_view(h)]
        by_hour = collections.defaultdict(list)
        for h in views:
            by_hour[h.ts.strftime("%Y-%m-%d %H")].append(h)
        assert payload["timestamp"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert payload["reporting_interval_seconds"] == 1800
        assert list(payload["data"]) == sorted(by_hour)
        for hour, bucket in payload["data"].items():
            group = by_hour[hour]
            assert bucket["count"] == len(group)
            assert bucket["paths"] == expected_top(collections.Counter(h.path for h in group), top_n, 256)
            agents = collections.Counter(stored_user_agent(h.user_agent) for h in group)
            assert bucket["user_agents"] == expected_top(agents, top_n)
            assert bucket["countries"] == expected_top(collections.Counter(country(h.ip) for h in group), top_n)
            for counts in (bucket["paths"], bucket["user_agents"], bucket["countries"]):
                assert sum(counts.values()) == bucket["count"] and len(counts) <= top_n + 1
                assert list(counts)[-1] == "(other)" or "(other)" not in counts
            other_seen |= "(other)" in bucket["paths"]
    assert other_seen or top_n == 50
    # Building again gives the same bytes: nothing changes in the outbox.
    before = outbox_rows(settings)
    for end in ends[:4]:
        reports.build_visits_report(settings, end - HALF_HOUR, end, clock=clock)
    assert outbox_rows(settings) == before


def test_a_payload_stays_within_tens_of_kb_whatever_the_traffic(tmp_path):
    """Heavy, adversarial traffic in one half hour: 40,000 page views of 12,000 paths (some 4 KB
    long) by 6,000 user agents. The payload keeps 50 of each, and its size stays bounded."""
    rng = random.Random(5)
    lines = []
    for i in range(40_000):
        n = rng.randrange(12_000)
        path = f"/p/{n}" if n % 40 else "/long/" + "x" * 4000 + str(n)
        ua = f"Agent/{rng.randrange(6_000)} " + "y" * 120
        ip = f"192.0.2.{i % 250}"
        lines.append(f'{ip} - - [19/May/2015:14:{i % 30:02d}:00 +0000] "GET {path} HTTP/1.1" 200 10 "-" "{ua}"\n')
    log = tmp_path / "heavy.log"
    log.write_text("".join(lines))
    ingest_log(tmp_path / "data", tmp_path / "secrets", log)
    settings = make_settings(tmp_path / "data", tmp_path / "secrets")

    rid = reports.build_visits_report(settings, DAY + dt.timedelta(hours=14), DAY + dt.timedelta(hours=14, minutes=30))

    body = outbox_rows(settings)[rid]["payload"].encode()
    bucket = json.loads(body)["data"]["2015-05-19 14"]
    assert bucket["count"] == 40_000
    assert len(bucket["paths"]) == len(bucket["user_agents"]) == 51
    assert all(len(p) <= 256 for p in bucket["paths"])
    assert sum(bucket["paths"].values()) == sum(bucket["user_agents"].values()) == 40_000
    assert len(body) < 16_000, len(body)
    VALIDATORS["visits"].validate(json.loads(body))


@pytest.mark.real_logs
def test_daily_summaries_match_the_oracle_and_the_schema(apache, tmp_path):
    root, hits = apache
    settings = make_settings(root / "data", tmp_path / "secrets", FOOTFALL_REPORT_TOP_N="10")
    start, end = dt.datetime(2015, 5, 16, tzinfo=dt.UTC), dt.datetime(2015, 5, 22, tzinfo=dt.UTC)

    ids = reports.build_daily_summaries(settings, start, end, clock=FakeClock(end))

    assert ids == [f"daily_summary-201505{d}T000000Z-201505{d + 1}T000000Z" for d in range(16, 22)]
    oracle = daily(hits)
    built = payloads(settings, "daily_summary")
    for rid in ids:
        payload = built[rid]
        VALIDATORS["daily_summary"].validate(payload)
        day = dt.date.fromisoformat(payload["day"])
        day_hits = [h for h in hits if h.ts.date() == day]
        views = [h for h in day_hits if is_page_view(h)]
        assert payload["traffic"] == oracle.get(day, {"hits": 0, "page_views": 0, "visitors": 0, "bytes": 0})
        assert payload["timestamp"] == f"{day + dt.timedelta(days=1)}T00:00:00Z"
        assert (payload["timezone"], payload["reporting_interval_seconds"]) == ("UTC", 86400)
        classes = collections.Counter(f"{h.status // 100}xx" for h in day_hits)
        assert payload["status_classes"] == dict(sorted(classes.items()))
        pages = collections.Counter(h.path for h in views)
        top = sorted(pages.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        visitors = {p: len({(h.ip, h.user_agent) for h in views if h.path == p}) for p, _ in top}
        assert payload["top_pages"] == [{"path": p, "page_views": n, "visitors": visitors[p]} for p, n in top]
        listed = sum(n for _, n in top)
        assert payload["other_pages"] == {"paths": len(pages) - len(top), "page_views": len(views) - listed}
        # Sections a later issue fills are absent, not faked.
        assert "communities" not in payload and "cross_division_flows" not in payload
    assert built[ids[0]]["traffic"]["hits"] == 0  # a day before the log: zeros, still a summary


@pytest.mark.real_logs
def test_a_daily_summary_covers_a_day_of_footfall_timezone(tmp_path):
    """With FOOTFALL_TIMEZONE set, the aggregates count local days: the summary is of a local
    day, built by the daily run whose (UTC) interval holds that day's end, and counts exactly
    the hits between its two local midnights."""
    hits = read_hits(shared_log("apache_logs"))
    zone = {"FOOTFALL_TIMEZONE": "America/New_York"}
    ingest_log(tmp_path / "data", tmp_path / "secrets", shared_log("apache_logs"), **zone)
    settings = make_settings(tmp_path / "data", tmp_path / "secrets", **zone)

    (rid,) = reports.build_daily_summaries(settings, DAY, DAY + dt.timedelta(days=1), clock=FakeClock(DAY))

    # New York is UTC-4 in May: its 18 May ends at 04:00Z on the 19th, inside this run's interval.
    assert rid == "daily_summary-20150518T040000Z-20150519T040000Z"
    payload = json.loads(outbox_rows(settings)[rid]["payload"])
    VALIDATORS["daily_summary"].validate(payload)
    assert (payload["day"], payload["timezone"]) == ("2015-05-18", "America/New_York")
    assert (payload["timestamp"], payload["reporting_interval_seconds"]) == ("2015-05-19T04:00:00Z", 86400)
    start, end = DAY - dt.timedelta(hours=20), DAY + dt.timedelta(hours=4)
    inside = [h for h in hits if start <= h.ts < end]
    assert payload["traffic"]["hits"] == len(inside)
    assert payload["traffic"]["page_views"] == sum(is_page_view(h) for h in inside)


def test_summary_days_cover_each_utc_day_once():
    utc = dt.UTC
    assert reports.summary_days(dt.datetime(2015, 5, 19, tzinfo=utc), dt.datetime(2015, 5, 20, tzinfo=utc)) == [
        dt.date(2015, 5, 19)
    ]
    # Unaligned (manually triggered) and multi-day intervals: days whose end falls inside.
    t = dt.datetime(2015, 5, 19, 13, tzinfo=utc)
    assert reports.summary_days(t - dt.timedelta(days=1), t) == [dt.date(2015, 5, 18)]
    assert reports.summary_days(t, t + dt.timedelta(hours=2)) == []
    assert reports.summary_days(t, t + dt.timedelta(days=3)) == [dt.date(2015, 5, d) for d in (19, 20, 21)]
    # Another zone: the local days whose local midnight falls in the interval, each once.
    paris = [
        reports.summary_days(DAY + dt.timedelta(days=i), DAY + dt.timedelta(days=i + 1), "Europe/Paris") for i in (0, 1)
    ]
    assert paris == [[dt.date(2015, 5, 19)], [dt.date(2015, 5, 20)]]
    # A daylight-saving day is 23 hours long.
    start, end = reports.day_bounds(dt.date(2015, 3, 29), "Europe/Paris")
    assert (start.isoformat(), end - start) == ("2015-03-28T23:00:00+00:00", dt.timedelta(hours=23))


def test_top_counts_rule():
    assert reports.top_counts({"b": 2, "a": 2, "c": 5}, 2) == {"c": 5, "a": 2, "(other)": 2}
    assert reports.top_counts({"b": 2, "a": 2}, 2) == {"a": 2, "b": 2}
    # A key that is literally "(other)" is never listed apart from the rest.
    assert reports.top_counts({"(other)": 9, "a": 1}, 5) == {"a": 1, "(other)": 9}
    assert reports.top_counts({"/" + "x" * 300: 9, "/a": 1}, 5, max_key_chars=256) == {"/a": 1, "(other)": 9}


def test_the_schemas_are_strict_where_they_should_be():
    visits = {"timestamp": "2015-05-19T14:30:00Z", "reporting_interval_seconds": 1800, "data": {}}
    VALIDATORS["visits"].validate(visits)
    bucket = {"count": 2, "paths": {"/": 2}, "user_agents": {"-": 2}, "countries": {"Unknown": 2}}
    VALIDATORS["visits"].validate(visits | {"data": {"2015-05-19 14": bucket}})
    for bad in (
        visits | {"extra": 1},
        visits | {"timestamp": "2015-05-19 14:30"},
        visits | {"data": {"2015-05-19T14": bucket}},
        visits | {"data": {"2015-05-19 14": bucket | {"count": 0}}},
        visits | {"data": {"2015-05-19 14": {k: v for k, v in bucket.items() if k != "paths"}}},
    ):
        assert not VALIDATORS["visits"].is_valid(bad), bad
    summary = {
        "kind": "daily_summary", "version": 1, "day": "2015-05-19", "timezone": "UTC",
        "timestamp": "2015-05-20T00:00:00Z",
        "reporting_interval_seconds": 86400, "traffic": {"hits": 0, "page_views": 0, "visitors": 0, "bytes": 0},
        "status_classes": {}, "top_pages": [], "other_pages": {"paths": 0, "page_views": 0},
    }  # fmt: skip
    VALIDATORS["daily_summary"].validate(summary)
    # The reserved sections are optional: absent now, arrays of objects when a later issue fills them.
    community = {
        "community_slug": "toronto",
        "community_id": "c1",
        "division_id": None,
        "visitors": 3,
        "signed_in_visitors": 1,
        "anonymous_visitors": 2,
        "page_views": 4,
        "same_division_visitors": 0,
        "cross_division_visitors": 1,
        "unknown_division_visitors": 2,
        "cross_division_pct": 33.33,
    }
    flow = {"from_division_id": "on", "to_division_id": "qc", "visitors": 1, "page_views": 2}
    VALIDATORS["daily_summary"].validate(summary | {"communities": [community], "cross_division_flows": [flow]})
    assert not VALIDATORS["daily_summary"].is_valid(summary | {"communities": {"a": 1}})
    assert not VALIDATORS["daily_summary"].is_valid(summary | {"communities": [{}]})
    assert not VALIDATORS["daily_summary"].is_valid(summary | {"communities": [community | {"visitors": 0}]})
    assert not VALIDATORS["daily_summary"].is_valid(summary | {"cross_division_flows": [flow | {"extra": 1}]})
    assert not VALIDATORS["daily_summary"].is_valid(summary | {"surprise": 1})


@pytest.mark.real_logs
def test_an_invalid_payload_is_never_queued(apache, tmp_path):
    with pytest.raises(jsonschema.ValidationError):
        reports.validate_payload("visits", {"timestamp": "x", "reporting_interval_seconds": 0, "data": {}})
    root, _ = apache
    settings = make_settings(root / "data", tmp_path / "secrets")
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        with pytest.raises(ValueError, match="unknown report kind"):
            outbox.enqueue(con, "x", "weekly", DAY, DAY, b"{}", now=DAY)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FOOTFALL_REPORT_TOP_N": "0"}, "FOOTFALL_REPORT_TOP_N='0' must be greater than 0"),
        ({"FOOTFALL_REPORT_BATCH": "many"}, "FOOTFALL_REPORT_BATCH='many' is not a whole number"),
        ({"FOOTFALL_REPORT_CONNECT_TIMEOUT_S": "-1"}, "FOOTFALL_REPORT_CONNECT_TIMEOUT_S='-1' must be greater than 0"),
        ({"FOOTFALL_REPORT_MAX_BACKOFF_S": "soon"}, "FOOTFALL_REPORT_MAX_BACKOFF_S='soon' is not a number"),
        ({"VISIT_TRACKING_API_TOKEN": "secret with space"}, "VISIT_TRACKING_API_TOKEN (or the password of Connection"),
        ({"VISIT_TRACKING_SIGNING_SECRET": "   "}, "VISIT_TRACKING_SIGNING_SECRET is blank"),
    ],
)
def test_reporting_settings_fail_fast_naming_the_variable(tmp_path, env, message):
    base = {"FOOTFALL_DATA_DIR": str(tmp_path / "d"), "FOOTFALL_SECRETS_DIR": str(tmp_path / "s")}
    with pytest.raises(ConfigError) as error:
        Settings.from_env(base | env)
    assert message in str(error.value)
    assert "secret with space" not in str(error.value)  # a secret is never echoed


def test_reporting_endpoints_are_checked_when_enabled(tmp_path):
    base = {"FOOTFALL_DATA_DIR": str(tmp_path / "d"), "FOOTFALL_SECRETS_DIR": str(tmp_path / "s")}
    enabled = base | {"VISIT_TRACKING_ENABLED": "true", "VISIT_TRACKING_API": "https://r.example/v"}
    Settings.from_env(enabled).check_reporting()
    with pytest.raises(ConfigError, match="VISIT_TRACKING_ENABLED is true but VISIT_TRACKING_API='r.example'"):
        Settings.from_env(enabled | {"VISIT_TRACKING_API": "r.example"}).check_reporting()
    with pytest.raises(ConfigError, match="FOOTFALL_DAILY_SUMMARY_API='ftp://r.example/d' is not an http"):
        Settings.from_env(enabled | {"FOOTFALL_DAILY_SUMMARY_API": "ftp://r.example/d"}).check_reporting()
    split = Settings.from_env(enabled | {"FOOTFALL_DAILY_SUMMARY_API": "https://r.example/d"})
    assert (split.report_endpoint("visits"), split.report_endpoint("daily_summary")) == (
        "https://r.example/v",
        "https://r.example/d",
    )
    assert "secret-1" not in repr(Settings.from_env(base | {"VISIT_TRACKING_SIGNING_SECRET": "secret-1"}))
