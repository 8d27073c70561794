"""The analytics API over the generated demo site, against the generator's ground truth.

The site is generated and ingested once per session by the real ingest DAG
(conftest.demo_site); the API runs as ``python -m analytics serve`` in its own process on
127.0.0.1 and is asked over HTTP. Every answer is compared with demo/ground_truth.py and
demo/site_truth.py: plain Python over the generated records, never footfall's SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import stat

import pytest
from api_helpers import cli, create_token, start_api

from demo import site
from demo.site_truth import SiteTruth, read_hits

pytestmark = pytest.mark.slow

NEWEST = dt.date(2026, 10, 31)
FIRST = NEWEST - dt.timedelta(days=44)
DEFAULT = (NEWEST - dt.timedelta(days=29), NEWEST)  # no dates: the newest 30 days of data
# (start_date, end_date) given, and the range they mean.
RANGES = [
    ((None, None), DEFAULT),
    ((FIRST, NEWEST), (FIRST, NEWEST)),
    ((NEWEST, NEWEST), (NEWEST, NEWEST)),
    ((FIRST + dt.timedelta(days=10), None), (FIRST + dt.timedelta(days=10), FIRST + dt.timedelta(days=39))),
]
RANGE_IDS = ["default", "all-days", "newest-day", "start-only"]


@pytest.fixture(scope="module")
def api(demo_site, tmp_path_factory):
    server = start_api(demo_site.env, tmp_path_factory.mktemp("api") / "serve.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def analyst(demo_site) -> str:
    return create_token(demo_site.env, "analyst", "tests")


@pytest.fixture(scope="module")
def viewer(demo_site) -> str:
    return create_token(demo_site.env, "viewer", "dashboard")


@pytest.fixture(scope="module")
def site_truth(demo_site) -> SiteTruth:
    from demo import traffic

    return SiteTruth(read_hits(demo_site.input_dir), demo_site.truth, traffic.SITE, dict(traffic.BROWSERS))


def params_of(given: tuple) -> dict:
    start, end = given
    return {k: v.isoformat() for k, v in (("start_date", start), ("end_date", end)) if v is not None}


def ask(api, path: str, token: str, given=(None, None), expected_range=None, **params) -> object:
    """The ``data`` of a 200 answer, after checking its range and snapshot members."""
    response = api.get(path, token, **params_of(given), **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "range", "snapshot"}
    if expected_range is not None:
        start, end = expected_range
        assert body["range"] == {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "days": (end - start).days + 1,
            "timezone": "UTC",
            "default": given == (None, None),
        }
    return body["data"]


def test_every_answer_says_which_snapshot_it_comes_from(api, analyst, demo_site):
    body = api.get("visitors/", analyst).json()
    newest = max(h.ts for h in read_hits(demo_site.input_dir))
    snapshot = body["snapshot"]
    assert snapshot["data_as_of"] == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert snapshot["ingest_run_id"] == demo_site.run_id
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", snapshot["definitions_version"])
    assert snapshot["generation"] >= 1
    assert dt.datetime.fromisoformat(snapshot["published_at"]) > newest


# -- the endpoints of the product spec ------------------------------------------------------------


@pytest.mark.parametrize("given,expected", RANGES, ids=RANGE_IDS)
def test_visitors(api, analyst, demo_site, given, expected):
    data = ask(api, "visitors/", analyst, given, expected)
    (row,) = demo_site.truth.visitor_stats(*expected)
    assert data == {
        "total_visitors": row["visitors"],
        "authenticated_visitors": row["signed_in_visitors"],
        "anonymous_visitors": row["anonymous_visitors"],
        "conversion_rate": row["signed_in_pct"],
        "total_page_views": row["page_views"],
        "avg_page_views_per_visitor": row["page_views_per_visitor"],
        "community_id": None,
        "division_id": None,
        # The answer states the country, page and referrer filters too (none here).
        "country": None,
        "page": None,
        "referrer": None,
    }
    assert row["visitors"] > 0


@pytest.mark.parametrize(
    "community_id,slug,division_id",
    [("C001", "toronto", None), (None, None, "CA-ON"), ("C009", "canada", "CA-QC"), ("C012", "germany", "DE")],
)
def test_visitors_of_a_community_or_division(api, analyst, demo_site, community_id, slug, division_id):
    params = {k: v for k, v in (("community_id", community_id), ("division_id", division_id)) if v}
    data = ask(api, "visitors/", analyst, (FIRST, NEWEST), **params)
    (row,) = demo_site.truth.visitor_stats(FIRST, NEWEST, slug, division_id)
    assert (data["total_visitors"], data["authenticated_visitors"], data["total_page_views"]) == (
        row["visitors"],
        row["signed_in_visitors"],
        row["page_views"],
    )
    assert (data["community_id"], data["division_id"]) == (community_id, division_id)
    assert row["visitors"] > 0


@pytest.mark.parametrize("path,days", [("visitors/today/", 1), ("visitors/weekly/", 7), ("visitors/monthly/", 30)])
def test_visitors_today_weekly_monthly(api, viewer, demo_site, path, days):
    data = ask(api, path, viewer, expected_range=(NEWEST - dt.timedelta(days=days - 1), NEWEST))
    (row,) = demo_site.truth.visitor_stats_last(days)
    assert (data["total_visitors"], data["authenticated_visitors"], data["anonymous_visitors"]) == (
        row["visitors"],
        row["signed_in_visitors"],
        row["anonymous_visitors"],
    )
    assert (data["conversion_rate"], data["total_page_views"]) == (row["signed_in_pct"], row["page_views"])


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
@pytest.mark.parametrize("limit", [10, 3])
def test_division_breakdown(api, analyst, site_truth, given, expected, limit):
    data = ask(api, "division-breakdown/", analyst, given, expected, limit=limit)
    assert data == site_truth.division_breakdown(*expected, limit)


@pytest.mark.parametrize(
    "interval,given,community_id,slug",
    [
        ("day", (None, None), None, None),
        ("hour", (NEWEST - dt.timedelta(days=1), NEWEST), None, None),
        ("week", (FIRST + dt.timedelta(days=3), NEWEST), "C001", "toronto"),
        ("month", (FIRST, NEWEST), None, None),
        ("day", (FIRST, FIRST + dt.timedelta(days=9)), "C010", "nyc"),
    ],
)
def test_trends(api, analyst, site_truth, interval, given, community_id, slug):
    params = {"interval": interval} | ({"community_id": community_id} if community_id else {})
    data = ask(api, "trends/", analyst, given, **params)
    start, end = given if given != (None, None) else DEFAULT
    unfiltered = {"country": None, "page": None, "referrer": None}
    assert data == {
        "interval": interval,
        "community_id": community_id,
        **unfiltered,
        **site_truth.trends(interval, start, end, slug),
    }
    assert sum(data["total"]) > 0


@pytest.mark.parametrize("given,expected", RANGES, ids=RANGE_IDS)
def test_conversions(api, viewer, site_truth, given, expected):
    data = ask(api, "conversions/", viewer, given, expected)
    assert data == site_truth.conversions(*expected)
    assert data["total_conversions"] > 0 or expected == (NEWEST, NEWEST)


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
def test_demographics(api, analyst, demo_site, site_truth, given, expected):
    data = ask(api, "demographics/", analyst, given, expected)
    types = demo_site.truth.demographics(*expected)
    assert sorted(data["by_division_type"], key=lambda r: r["division_type"]) == [
        {"division_type": r["division_type"], "count": r["visitors"], "percentage": r["pct"]} for r in types
    ]
    assert data["top_countries"] == [
        {"iso_country": r["iso_country"], "name": site_truth.country_name(r["iso_country"]), "count": r["visitors"],
         "percentage": r["pct"]}
        for r in demo_site.truth.top_countries(*expected)
    ]  # fmt: skip


@pytest.mark.parametrize("community_id,slug", [(None, "(all)"), ("C001", "toronto")])
def test_realtime(api, analyst, demo_site, community_id, slug):
    data = ask(api, "realtime/", analyst, **({"community_id": community_id} if community_id else {}))
    (row,) = [r for r in demo_site.truth.current_visitors() if r["community_slug"] == slug]
    assert (data["count"], data["timestamp"]) == (row["visitors"], row["window_end"].strftime("%Y-%m-%dT%H:%M:%SZ"))
    age = (dt.datetime.now(dt.UTC) - row["window_end"].replace(tzinfo=dt.UTC)).total_seconds()
    assert data["window_seconds"] == 300 and abs(data["age_seconds"] - age) < 60
    assert row["visitors"] > 0


@pytest.mark.parametrize("period,days", [("day", 1), ("week", 7), ("month", 30)])
def test_growth(api, viewer, demo_site, period, days):
    data = ask(api, "growth/", viewer, period=period)
    metrics = demo_site.truth.growth(period)
    assert data["metrics"] == metrics
    visitors = metrics[0]
    assert (data["growth_rate"], data["trend"]) == (visitors["growth_pct"], visitors["trend"])
    current, previous = NEWEST - dt.timedelta(days=days - 1), NEWEST - dt.timedelta(days=2 * days - 1)
    assert data["current_period"] == {
        "start_date": current.isoformat(),
        "end_date": NEWEST.isoformat(),
        "visitors": visitors["current"],
        "authenticated_visitors": metrics[1]["current"],
        "page_views": metrics[2]["current"],
    }
    assert data["previous_period"]["start_date"] == previous.isoformat()
    assert data["previous_period"]["visitors"] == visitors["previous"]


@pytest.mark.parametrize("given,community_id,slug", [((None, None), None, None), ((FIRST, NEWEST), "C003", "ottawa")])
def test_export_is_a_csv_of_visitors_per_day(api, analyst, site_truth, demo_site, given, community_id, slug):
    response = api.get("export/", analyst, **params_of(given), **({"community_id": community_id} if slug else {}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["footfall-ingest-run-id"] == demo_site.run_id
    rows = list(csv.DictReader(io.StringIO(response.text)))
    start, end = given if given != (None, None) else DEFAULT
    expected = site_truth.visitors_by_day(start, end, slug)
    assert [{k: (v if k == "date" else int(v)) for k, v in r.items()} for r in rows] == expected
    assert len(rows) == (end - start).days + 1 and sum(r["total_visitors"] for r in expected) > 0


def test_communities_lists_the_dimension_file(api, analyst):
    from demo.traffic import COMMUNITIES, DIVISIONS

    names = {d.division_id: d.name for d in DIVISIONS}
    assert ask(api, "communities/", analyst) == [
        {"community_id": c.community_id, "community_slug": c.community_slug, "division_id": c.division_id,
         "division_name": names[c.division_id]}
        for c in sorted(COMMUNITIES, key=lambda c: c.community_id)
    ]  # fmt: skip


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
def test_cross_division_flows(api, analyst, demo_site, given, expected):
    names = {d.division_id: d.name for d in demo_site.truth.dimensions.divisions}
    data = ask(api, "cross-division-flows/", analyst, given, expected, limit=1000)
    flows = demo_site.truth.cross_division_flows(*expected)
    assert sorted(data, key=lambda r: (r["from_division_id"], r["to_division_id"])) == [
        {"from_division_id": f["from_division_id"], "from_division_name": names[f["from_division_id"]],
         "to_division_id": f["to_division_id"], "to_division_name": names[f["to_division_id"]],
         "visitors": f["visitors"], "page_views": f["page_views"]}
        for f in flows
    ]  # fmt: skip
    assert flows


# -- the dashboard's endpoints --------------------------------------------------------------------


@pytest.mark.parametrize("given,expected", RANGES, ids=RANGE_IDS)
def test_traffic_per_day(api, viewer, site_truth, given, expected):
    data = ask(api, "traffic/", viewer, given, expected)
    assert data == {
        "interval": "day",
        "totals": site_truth.traffic_totals(*expected),
        "series": site_truth.traffic_daily(*expected),
    }


@pytest.mark.parametrize("given", [(NEWEST, NEWEST), (NEWEST - dt.timedelta(days=6), NEWEST)])
def test_traffic_per_hour(api, viewer, site_truth, given):
    data = ask(api, "traffic/", viewer, given, given, interval="hour")
    assert data["series"] == site_truth.traffic_hourly(*given)
    assert data["totals"] == site_truth.traffic_totals(*given)


RANGED = [
    ("pages/", "pages"),
    ("entry-pages/", "entry_pages"),
    ("countries/", "countries"),
    ("crawlers/", "crawlers"),
]


@pytest.mark.parametrize("path,method", RANGED, ids=[p for p, _ in RANGED])
@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
@pytest.mark.parametrize("limit", [10, 1000])
def test_top_lists(api, analyst, site_truth, path, method, given, expected, limit):
    data = ask(api, path, analyst, given, expected, limit=limit)
    assert data == getattr(site_truth, method)(*expected, limit)
    assert data


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
def test_referrers_and_campaigns(api, analyst, site_truth, given, expected):
    data = ask(api, "referrers/", analyst, given, expected, limit=50)
    assert data == {
        "referrers": site_truth.referrers(*expected, 50),
        "campaigns": site_truth.campaigns(*expected, 50),
    }
    classes = {r["referrer_class"] for r in data["referrers"]}
    assert classes == {"direct", "internal", "search", "social", "other"} or expected == (NEWEST, NEWEST)
    assert {c["utm_medium"] for c in data["campaigns"]} == {"social", "email"} or expected == (NEWEST, NEWEST)


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
def test_devices(api, analyst, site_truth, given, expected):
    assert ask(api, "devices/", analyst, given, expected) == site_truth.devices(*expected)


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
def test_status_codes_and_404_paths(api, analyst, site_truth, given, expected):
    data = ask(api, "status-codes/", analyst, given, expected, limit=5)
    statuses = site_truth.statuses(*expected)
    classes: dict[str, int] = {}
    for row in statuses:
        classes[f"{row['status'] // 100}xx"] = classes.get(f"{row['status'] // 100}xx", 0) + row["hits"]
    assert data == {"statuses": statuses, "classes": classes, "top_404_paths": site_truth.top_404_paths(*expected, 5)}
    assert data["top_404_paths"]


@pytest.mark.parametrize("given,community_id,slug", [((None, None), None, "(all)"), ((FIRST, NEWEST), "C010", "nyc")])
def test_peak_visitors(api, analyst, demo_site, site_truth, given, community_id, slug):
    data = ask(api, "peak-visitors/", analyst, given, **({"community_id": community_id} if community_id else {}))
    start, end = given if given != (None, None) else DEFAULT
    assert data["hour_of_week"] == site_truth.hour_of_week(start, end)
    assert len(data["hour_of_week"]) == 7 * 24
    assert data["daily_peaks"] == [
        {"date": r["day"].isoformat(), "peak_visitors": r["peak_visitors"],
         "window_start": r["window_start"].strftime("%Y-%m-%dT%H:%M:%SZ")}
        for r in demo_site.truth.peak_visitors_daily()
        if r["community_slug"] == slug and start <= r["day"] <= end
    ]  # fmt: skip


@pytest.mark.parametrize("given,expected", RANGES[:3], ids=RANGE_IDS[:3])
def test_content(api, analyst, site_truth, given, expected):
    assert ask(api, "content/", analyst, given, expected, limit=15) == site_truth.content(*expected, 15)


def test_content_of_one_post(api, analyst, site_truth):
    top = site_truth.content(FIRST, NEWEST, 3)
    for post in top:
        data = ask(api, f"content/{post['post_id']}/", analyst, (FIRST, NEWEST))
        assert data == site_truth.post(post["post_id"], FIRST, NEWEST)
        assert data["by_referrer"] and data["by_country"]
    missing = api.get("content/no-such-post/", analyst)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404


def test_the_generated_site_holds_what_the_dashboard_shows(site_truth):
    """The site truth is not empty where the comparisons above need rows."""
    assert site_truth.campaigns(FIRST, NEWEST, 10) and site_truth.top_404_paths(FIRST, NEWEST, 10)
    assert set(site.CRAWLER_NAMES.values()) == {r["crawler_name"] for r in site_truth.crawlers(FIRST, NEWEST, 100)}


# -- who may read -----------------------------------------------------------------------------------

ANALYST_ONLY = [
    "export/",
    "communities/",
    "division-breakdown/",
    "demographics/",
    "cross-division-flows/",
    "pages/",
    "entry-pages/",
    "referrers/",
    "countries/",
    "devices/",
    "status-codes/",
    "crawlers/",
    "content/",
    "content/101/",
    "community-breakdown/",
]
VIEWER = [
    "visitors/",
    "visitors/today/",
    "visitors/weekly/",
    "visitors/monthly/",
    "trends/",
    "conversions/",
    "growth/",
    "realtime/",
    "traffic/",
    "peak-visitors/",
]


@pytest.mark.parametrize("path", ANALYST_ONLY + VIEWER)
def test_no_token_gets_401_and_no_data(api, path):
    for headers in ({}, {"token": "ff_00000000_" + "A" * 43}, {"token": "not-a-token"}):
        response = api.get(path, headers.get("token"), start_date="2026-10-01")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) == {"error"} and response.json()["error"]["status"] == 401


@pytest.mark.parametrize("path", ANALYST_ONLY)
def test_a_viewer_gets_403_for_detail(api, viewer, path):
    response = api.get(path, viewer)
    assert response.status_code == 403, response.text
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("path", VIEWER)
def test_a_viewer_sees_site_totals(api, viewer, path):
    assert api.get(path, viewer).status_code == 200


@pytest.mark.parametrize(
    "path,params", [("visitors/", {"community_id": "C001"}), ("visitors/", {"division_id": "CA"}),
                    ("trends/", {"community_id": "C001"}), ("realtime/", {"community_id": "C001"}),
                    ("peak-visitors/", {"community_id": "C001"})],
)  # fmt: skip
def test_a_viewer_gets_403_for_a_community_or_division(api, viewer, path, params):
    response = api.get(path, viewer, **params)
    assert response.status_code == 403
    assert response.json()["error"]["parameter"] == next(iter(params))


@pytest.mark.parametrize(
    "path,params,parameter,message",
    [
        ("visitors/", {"community_id": "C999"}, "community_id", "unknown community_id 'C999'"),
        ("visitors/", {"division_id": "XX-YY"}, "division_id", "unknown division_id 'XX-YY'"),
        ("visitors/", {"start_date": "2026-10-10", "end_date": "2026-10-01"}, "end_date", "is before start_date"),
        ("visitors/", {"start_date": "2025-01-01", "end_date": "2026-10-01"}, "end_date", "639 days; at most 400"),
        ("visitors/", {"start_date": "2026-02-30"}, "start_date", "start_date:"),
        ("visitors/", {"start_date": "yesterday"}, "start_date", "start_date:"),
        ("visitors/", {"start": "2026-10-01"}, "start", "unknown parameter 'start'"),
        ("trends/", {"interval": "year"}, "interval", "interval:"),
        ("trends/", {"community_id": "nope"}, "community_id", "unknown community_id"),
        ("growth/", {"period": "quarter"}, "period", "period:"),
        ("traffic/", {"interval": "week"}, "interval", "interval:"),
        ("pages/", {"limit": "0"}, "limit", "limit:"),
        ("pages/", {"limit": "ten"}, "limit", "limit:"),
        ("export/", {"community_id": "C999"}, "community_id", "unknown community_id"),
        ("export/", {"end_date": "2030-01-01", "start_date": "2026-01-01"}, "end_date", "at most 400"),
    ],
)
def test_bad_input_gets_422_naming_the_parameter(api, analyst, path, params, parameter, message):
    response = api.get(path, analyst, **params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["parameter"] == parameter and message in error["message"]
    assert set(response.json()) == {"error"} and "Traceback" not in response.text


def test_a_revoked_token_is_refused_at_the_next_request(api, demo_site):
    token = create_token(demo_site.env, "analyst", "to revoke")
    assert api.get("visitors/", token).status_code == 200
    token_id = token.split("_")[1]
    listed = cli(demo_site.env, "token", "list").stdout
    assert token_id in listed and token not in listed
    done = cli(demo_site.env, "token", "revoke", token_id)
    assert done.returncode == 0, done.stderr
    assert api.get("visitors/", token).status_code == 401
    assert cli(demo_site.env, "token", "revoke", token_id).returncode == 1


def test_tokens_are_stored_only_as_keyed_hashes(demo_site, analyst):
    from pathlib import Path

    secrets_dir = Path(demo_site.env["FOOTFALL_SECRETS_DIR"])
    store, key = secrets_dir / "api_tokens.json", secrets_dir / "api_token.key"
    for path in (store, key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    text = store.read_text()
    assert analyst not in text and analyst.split("_", 2)[2] not in text
    assert re.search(r'"hmac_sha256": "[0-9a-f]{64}"', text)
    assert cli(demo_site.env, "token", "create", "--role", "admin").returncode == 2


def test_openapi_lists_every_endpoint(api):
    paths = api.get("openapi.json").json()["paths"]
    expected = {f"/api/analytics/{p}" for p in ANALYST_ONLY + VIEWER + ["session/"] if p != "content/101/"}
    assert expected | {"/api/analytics/content/{post_id}/"} == set(paths)
    assert api.get("../../").headers["content-type"].startswith("text/html")  # "/" is the dashboard


def test_no_address_or_token_in_any_answer_or_log(api, analyst, viewer, demo_site):
    addresses = set(demo_site.truth.locations)
    answers = [api.get(path, analyst, start_date=FIRST.isoformat(), limit=1000).text for path in ANALYST_ONLY + VIEWER
               if path not in ("export/",)]  # fmt: skip
    answers.append(api.get("export/", analyst, start_date=FIRST.isoformat()).text)
    pattern = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
    for text in answers:
        assert not set(pattern.findall(text)) & addresses
    log = api.log.read_text()
    assert "footfall.api.access" in log and "token=" in log
    key = (demo_site.data_dir.parent / "secrets" / "api_token.key").read_bytes().hex()
    for secret in (analyst, viewer, analyst.split("_", 2)[2], viewer.split("_", 2)[2], key, "Bearer", "authorization"):
        assert secret not in log
    assert not re.search(r"127\.0\.0\.1:\d+ - ", log), "uvicorn's access log (client addresses) is off"
    assert not set(pattern.findall(log)) & addresses


def test_before_anything_is_published_the_api_says_so(tmp_path):
    env = {"FOOTFALL_DATA_DIR": str(tmp_path / "data"), "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets")}
    token = create_token(env, "viewer")
    server = start_api(env, tmp_path / "serve.log")
    try:
        response = server.get("visitors/", token)
        assert response.status_code == 503
        assert "warehouse.cli publish" in response.json()["error"]["message"]
        assert server.get("visitors/").status_code == 401  # the token is still checked first
    finally:
        server.stop()
