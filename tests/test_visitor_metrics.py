"""Visits, time zones, crawler accounting and salt rotation, on real logs, against independent readings."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import shutil

import pytest
from conftest import shared_log
from oracle import is_page_view, read_hits
from warehouse_queries import query

from transforms.privacy import KeyStore
from warehouse import ingest
from warehouse.settings import Settings


def ingest_all(run_id: str = "run-1") -> Settings:
    settings = Settings.from_env()
    results = [ingest.parse_source(settings, p, run_id, dt.date(2026, 11, 21)) for p in ingest.discover(settings)]
    committed = ingest.commit(settings, results, run_id)
    ingest.aggregate(settings, committed["days"])
    return settings


def oracle_visits(hits, gap_s: int = 1800) -> dict[dt.date, tuple]:
    """Sessions from first principles: per day and (address, user agent), page views in time
    order; a gap of gap_s seconds or more starts a new visit."""
    by_visitor = collections.defaultdict(list)
    for h in hits:
        if is_page_view(h):
            by_visitor[(h.ts.date(), h.ip, h.user_agent)].append(h.ts)
    per_day = collections.defaultdict(list)  # day -> [(page views, duration s)]
    for (day, _, _), times in by_visitor.items():
        times.sort()
        start = prev = times[0]
        count = 1
        for t in times[1:]:
            if (t - prev).total_seconds() >= gap_s:
                per_day[day].append((count, (prev - start).total_seconds()))
                start, count = t, 0
            count += 1
            prev = t
        per_day[day].append((count, (prev - start).total_seconds()))
    out = {}
    for day, visits in per_day.items():
        n = len(visits)
        bounces = sum(1 for pv, _ in visits if pv == 1)
        out[day] = (
            n,
            bounces,
            round(100 * bounces / n, 2),
            round(sum(d for _, d in visits) / n, 1),
            round(sum(pv for pv, _ in visits) / n, 2),
        )
    return out


@pytest.mark.real_logs
def test_visits_bounces_and_durations(footfall_env):
    # Crawlers counted, so that the oracle needs no user-agent classification.
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")), FOOTFALL_COUNT_CRAWLERS="true")
    ingest_all()
    rows = query(
        data_dir,
        "select day, visits, bounces, bounce_rate, avg_visit_duration_s, pages_per_visit from visits_daily",
    )
    expected = oracle_visits(read_hits(shared_log("apache_logs")))
    assert {r[0]: tuple(r[1:]) for r in rows} == expected
    joined = query(
        data_dir,
        "select count(*) from daily_traffic d join visits_daily v using (day) "
        "where d.visits = v.visits and d.bounce_rate = v.bounce_rate and d.pages_per_visit = v.pages_per_visit",
    )
    assert joined == [(len(expected),)]


@pytest.mark.real_logs
def test_shorter_session_gap_gives_more_visits(footfall_env):
    data_dir = footfall_env(
        FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")), FOOTFALL_COUNT_CRAWLERS="true", FOOTFALL_SESSION_GAP_S="60"
    )
    ingest_all()
    rows = query(data_dir, "select day, visits from visits_daily")
    expected = oracle_visits(read_hits(shared_log("apache_logs")), gap_s=60)
    assert {day: visits for day, visits in rows} == {day: v[0] for day, v in expected.items()}


@pytest.mark.real_logs
def test_days_follow_the_reporting_time_zone_across_daylight_saving(footfall_env):
    """wordpress_access3.log is written in New York time and crosses the 13 March 2016 change
    from -0500 to -0400. With FOOTFALL_TIMEZONE=America/New_York, footfall's days must be the
    log's own days: GoAccess's hits per day as logged are the independent reference."""
    data_dir = footfall_env(
        FOOTFALL_LOG_GLOB=str(shared_log("wordpress_access3.log.gz")), FOOTFALL_TIMEZONE="America/New_York"
    )
    ingest_all()
    goaccess = json.loads(shared_log("goaccess/wordpress_access3.log.json").read_text())
    expected = {
        dt.datetime.strptime(d["data"], "%Y%m%d").date(): d["hits"]["count"] for d in goaccess["visitors"]["data"]
    }
    expected[dt.date(2016, 3, 1)] += 2  # the two lines GoAccess loses (see test_goaccess_parity)
    assert dict(query(data_dir, "select day, hits from daily_traffic")) == expected
    assert query(data_dir, "select sum(hits) from status_daily") == [(206_860,)]
    # 13 March has 23 wall-clock hours: no 02:00 bucket exists that day.
    hours = {h for (h,) in query(data_dir, "select hour from hourly_traffic where cast(hour as date) = '2016-03-13'")}
    assert dt.datetime(2016, 3, 13, 2) not in hours and dt.datetime(2016, 3, 13, 3) in hours


@pytest.mark.real_logs
def test_crawlers_stay_in_hits_but_not_in_page_views(footfall_env):
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    ingest_all()
    hits = read_hits(shared_log("apache_logs"))
    googlebot = [h for h in hits if "Googlebot/2.1" in h.user_agent]
    assert len(googlebot) > 100
    assert query(data_dir, "select sum(hits) from bots_daily where crawler_name = 'Googlebot'") == [(len(googlebot),)]
    assert query(data_dir, "select sum(hits) from daily_traffic") == [(len(hits),)]
    counted = query(
        data_dir,
        "select count(*) filter (where is_page_view(method, status, path) and not is_crawler), "
        "count(*) filter (where is_crawler and device_type = 'bot'), count(*) filter (where is_crawler) "
        "from events",
    )[0]
    assert query(data_dir, "select sum(page_views) from daily_traffic") == [(counted[0],)]
    assert counted[0] < sum(1 for h in hits if is_page_view(h))
    # Package managers and feed readers are not browsers: nginx_logs is almost all of them.
    footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("nginx_logs")))  # same data dir, second log
    ingest_all("run-2")
    apt = query(data_dir, "select bool_and(is_crawler), count(*) from events where user_agent like 'Debian APT-HTTP%'")
    assert apt[0][0] is True and apt[0][1] > 10_000


@pytest.mark.real_logs
def test_old_salts_are_deleted_and_ids_cannot_be_recomputed(footfall_env):
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    settings = ingest_all()
    keys = KeyStore(settings.secrets_dir)
    salts = sorted(p.name for p in keys.salts_dir.glob("*.salt"))
    assert salts == ["2015-05-17.salt", "2015-05-18.salt", "2015-05-19.salt", "2015-05-20.salt"]
    before = query(data_dir, "select day, visitors from daily_traffic order by day")
    ids_before = set(query(data_dir, "select distinct visitor_id from events where event_date = '2015-05-17'"))

    now = dt.datetime.now(dt.UTC)
    # Controlled clock: the 17 May salt was created 49 hours ago, the others just now.
    old = (now - dt.timedelta(hours=49)).timestamp()
    os.utime(keys.salts_dir / "2015-05-17.salt", (old, old))
    assert ingest.purge_salts(settings, now) == ["2015-05-17"]
    assert ingest.purge_salts(settings, now) == []

    # Re-reading the same log from scratch: the 17th gets a fresh salt, so its ids are new,
    # while its counts (one salt for the whole day) are unchanged.
    shutil.rmtree(data_dir)
    ingest_all("run-2")
    assert query(data_dir, "select day, visitors from daily_traffic order by day") == before
    ids_after = set(query(data_dir, "select distinct visitor_id from events where event_date = '2015-05-17'"))
    assert ids_after and ids_after.isdisjoint(ids_before)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FOOTFALL_TIMEZONE", "Mars/Olympus", "not an IANA time zone name"),
        ("FOOTFALL_TRUSTED_PROXIES", "10.0.0.0/33", "is not an IP address or CIDR"),
        ("GEOIP_DATABASE", "/nonexistent/GeoLite2-City.mmdb", "no such file"),
        ("FOOTFALL_CRAWLER_PATTERNS", "bot(", "not a valid regular expression"),
    ],
)
def test_enrichment_misconfiguration_fails_fast(variable, value, message):
    from warehouse.settings import ConfigError

    with pytest.raises(ConfigError, match=message):
        Settings.from_env({variable: value})
