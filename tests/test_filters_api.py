"""The country, page and referrer filters of the analytics API, against a plain-Python oracle.

A log written by tests/filter_site.py is ingested by the real ingest DAG (conftest.filter_site);
``python -m analytics serve`` answers on 127.0.0.1; every filtered number is compared with tests/filter_site.expected,
which reads the log's lines itself and counts from docs/analysts/metrics.md.
"""

from __future__ import annotations

import pytest
from api_helpers import create_token
from filter_site import DAYS, HOSTILE_PAGES, expected, stored

# The session's ingest DAG run and an API server (the dashboard's tests add a browser); the log's
# addresses come from ../shared/data/real/apache_logs.
pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

RANGE = {"start_date": DAYS[0].isoformat(), "end_date": DAYS[-1].isoformat()}


@pytest.fixture(scope="module")
def analyst(filter_site) -> str:
    return create_token(filter_site[1], "analyst", "filter tests")


def _filters() -> list[dict[str, str]]:
    """One filter of each kind, each chosen so that it keeps part of the site, and a combination."""
    return [
        {"country": "US"},
        {"page": "/about"},
        {"referrer": "google.com"},
        {"page": stored(HOSTILE_PAGES[1])},
        {"referrer": "<script>alert(4)<"},
        {"country": "US", "page": "/blog/first-post", "referrer": "news.ycombinator.com"},
    ]


def test_the_site_has_what_the_filters_need(filter_site):
    _, _, hits = filter_site
    whole = expected(hits, {})
    assert len(whole["countries"]) >= 4 and whole["countries"]["US"][0] > 20
    for filters in _filters():
        assert 0 < expected(hits, filters)["page_views"] < whole["page_views"], filters


@pytest.mark.parametrize("which", range(6))
def test_filtered_answers_equal_the_oracle(filter_site, analyst, which):
    api, _, hits = filter_site
    filters = _filters()[which]
    want = expected(hits, filters)

    def get(path, **extra):
        response = api.get(path, analyst, **RANGE, **filters, **extra)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    visitors = get("visitors/")
    assert (visitors["total_visitors"], visitors["total_page_views"]) == (want["visitors"], want["page_views"])
    assert visitors["authenticated_visitors"] == 0 and visitors["anonymous_visitors"] == want["visitors"]
    assert {k: visitors[k] for k in filters} == filters

    totals = get("traffic/")["totals"]
    assert totals["hits"] == want["hits"]
    assert totals["page_views"] == want["page_views"]
    assert totals["visitor_days"] == want["visitors"]  # no signed-in visitors: a visitor is a visitor-day
    assert (totals["visits"], totals["bounces"]) == (want["visits"], want["bounces"])
    assert totals["bounce_rate"] == want["bounce_rate"]
    assert totals["avg_visit_duration_s"] == want["avg_visit_duration_s"]

    series = get("traffic/", interval="day")["series"]
    assert sum(p["page_views"] for p in series) == want["page_views"]
    assert sum(p["visits"] for p in series) == want["visits"]
    assert sum(get("trends/")["total"]) == want["visitors"]

    def listed(rows, key, *values):
        return {row[key]: tuple(row[v] for v in values) for row in rows}

    assert listed(get("pages/", limit=1000), "path", "page_views", "visitors") == want["pages"]
    assert listed(get("countries/", limit=1000), "country_code", "page_views", "visitors") == want["countries"]
    referrers = get("referrers/", limit=1000)["referrers"]
    for row in referrers:
        row["key"] = row["referrer_domain"] or ("direct" if row["referrer_class"] == "direct" else "no domain")
    assert listed(referrers, "key", "page_views", "visitors") == want["referrers"]
    assert listed(get("entry-pages/", limit=1000), "path", "entries", "bounces") == want["entries"]
    assert listed(get("status-codes/")["statuses"], "status", "hits") == {s: (n,) for s, n in want["statuses"].items()}
    devices = get("devices/")
    assert sum(row["page_views"] for row in devices["browsers"]) == want["page_views"]
    cells = get("peak-visitors/")
    assert sum(c["page_views"] for c in cells["hour_of_week"]) == want["page_views"]
    assert cells["daily_peaks"] is None


def test_a_page_filter_on_the_pages_list_is_the_page_s_own_row(filter_site, analyst):
    api, _, hits = filter_site
    rows = api.get("pages/", analyst, **RANGE, page="/about").json()["data"]
    assert [r["path"] for r in rows] == ["/about"]
    unfiltered = {r["path"]: r for r in api.get("pages/", analyst, **RANGE, limit=100).json()["data"]}
    assert rows[0] == unfiltered["/about"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"country": "us"}, "country"),
        ({"country": "<script>"}, "country"),
        ({"page": ""}, "page"),
        ({"page": "/a\x00b"}, "page"),
        ({"page": "/" + "a" * 3000}, "page"),
        ({"referrer": "evil.example/<img src=x onerror=alert(1)>"}, "referrer"),
        ({"referrer": "a\nb"}, "referrer"),
        ({"country": "US", "community_id": "C001"}, "community_id"),
    ],
)
def test_a_malformed_filter_is_a_422_naming_it_and_not_echoed(filter_site, analyst, params, parameter):
    api, _, _ = filter_site
    response = api.get("visitors/", analyst, **params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert "<" not in response.text and "\\u0000" not in response.text


def test_viewers_see_site_totals_only(filter_site):
    api, env, _ = filter_site
    viewer = create_token(env, "viewer", "filter tests")
    assert api.get("visitors/", viewer, **RANGE).status_code == 200
    for name, value in (("country", "US"), ("page", "/about"), ("referrer", "google.com")):
        response = api.get("visitors/", viewer, **RANGE, **{name: value})
        assert response.status_code == 403 and response.json()["error"]["parameter"] == name


def test_endpoints_that_cannot_filter_refuse_the_filters(filter_site, analyst):
    """No silent whole-site answer: an endpoint that does not take a filter says so."""
    api, _, _ = filter_site
    for path in ("conversions/", "realtime/", "crawlers/", "community-breakdown/", "content/"):
        response = api.get(path, analyst, country="US")
        assert response.status_code == 422 and response.json()["error"]["parameter"] == "country", path


def test_the_filters_are_in_the_openapi_document(filter_site):
    api, _, _ = filter_site
    document = api.get("openapi.json").json()
    for path in ("visitors/", "traffic/", "trends/", "pages/", "entry-pages/", "referrers/", "countries/",
                 "devices/", "status-codes/", "peak-visitors/"):  # fmt: skip
        names = {p["name"] for p in document["paths"][f"/api/analytics/{path}"]["get"]["parameters"]}
        assert {"country", "page", "referrer"} <= names, path


def test_without_a_token_a_malformed_filter_is_still_a_401(filter_site):
    """A caller without a valid token learns nothing but 401, whatever it sends."""
    api, _, _ = filter_site
    for params in ({"country": "us"}, {"page": ""}, {"referrer": "a/b"}):
        assert api.get("visitors/", None, **params).status_code == 401


def test_filtered_answers_count_by_the_snapshot_s_rules_not_the_server_s_environment(filter_site, tmp_path):
    """The pipeline published with crawlers excluded and 30-minute visits; an API server started
    with other values in its environment still counts as the snapshot's aggregates were built."""
    from api_helpers import start_api

    _, env, hits = filter_site
    other = start_api(
        {**env, "FOOTFALL_COUNT_CRAWLERS": "true", "FOOTFALL_SESSION_GAP_S": "60"}, tmp_path / "serve.log"
    )
    try:
        token = create_token(env, "analyst", "rules test")
        for filters in ({"country": "US"}, {"page": "/about"}):
            want = expected(hits, filters)
            response = other.get("traffic/", token, **RANGE, **filters)
            assert response.status_code == 200, response.text
            totals = response.json()["data"]["totals"]
            assert (totals["page_views"], totals["visits"]) == (want["page_views"], want["visits"]), filters
    finally:
        other.stop()
