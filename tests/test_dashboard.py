"""The dashboard and the one-file report in a real headless Chromium, on the generated demo site.

The page is served by ``python -m analytics serve`` (its own process, 127.0.0.1) over the demo
site ingested once per session (conftest.demo_site); the report is written from the same
snapshot and opened from ``file://`` with every other request aborted. Numbers are compared
with the API's answers and with demo/ground_truth.py and demo/site_truth.py (plain Python over
the generated records). Screenshots go to test-output/ (git-ignored) for review.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from api_helpers import create_token, start_api
from browser_helpers import COMPLETE, OUTPUT, chromium, deltas, kpis, offline_context, sign_in, wait_redrawn, watch

from analytics.report import write_report
from demo.ground_truth import rounded
from demo.site_truth import SiteTruth, read_hits

pytestmark = pytest.mark.slow

NEWEST = dt.date(2026, 10, 31)
FIRST = NEWEST - dt.timedelta(days=44)
LAST_30 = (NEWEST - dt.timedelta(days=29), NEWEST)
VIEWPORT = {"viewport": {"width": 1400, "height": 1000}}


@pytest.fixture(scope="module")
def api(demo_site, tmp_path_factory):
    server = start_api(demo_site.env, tmp_path_factory.mktemp("dashboard") / "serve.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def analyst(demo_site) -> str:
    return create_token(demo_site.env, "analyst", "dashboard tests")


@pytest.fixture(scope="module")
def viewer(demo_site) -> str:
    return create_token(demo_site.env, "viewer", "dashboard tests")


@pytest.fixture(scope="module")
def site_truth(demo_site) -> SiteTruth:
    from demo import traffic

    return SiteTruth(read_hits(demo_site.input_dir), demo_site.truth, traffic.SITE, dict(traffic.BROWSERS))


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def report(demo_site, tmp_path_factory):
    return write_report(demo_site.data_dir, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture
def page(browser, api):
    context = browser.new_context(**VIEWPORT)
    opened = context.new_page()
    opened.seen = watch(opened, api.url)
    yield opened
    context.close()


@pytest.fixture
def report_page(browser, report):
    context = offline_context(browser, **VIEWPORT)
    opened = context.new_page()
    opened.seen = watch(opened, "file")
    yield opened
    context.close()


def view(start: dt.date, end: dt.date, **extra: str) -> str:
    """The URL fragment of a custom range (and filters, comparison...)."""
    parts = {"range": "custom", "from": start.isoformat(), "to": end.isoformat(), **extra}
    return "#" + "&".join(f"{k}={v}" for k, v in parts.items())


def expected_kpis(demo_site, site_truth, start, end, slug=None, division=None) -> dict[str, float | None]:
    """The KPI strip from the ground truth: visitors from visitor_stats, visits and their rates
    from the site truth's traffic totals, conversions from its conversions."""
    (row,) = demo_site.truth.visitor_stats(start, end, slug, division)
    totals = site_truth.traffic_totals(start, end)
    return {
        "visitors": row["visitors"],
        "signed_in": row["signed_in_visitors"],
        "anonymous": row["anonymous_visitors"],
        "page_views": row["page_views"],
        "visits": totals["visits"],
        "bounce_rate": totals["bounce_rate"],
        "visit_duration": totals["avg_visit_duration_s"],
        "pages_per_visit": rounded(totals["page_views"], totals["visits"], 2),
        "conversions": site_truth.conversions(start, end)["total_conversions"],
    }


def api_kpis(api, token, start, end, **filters) -> dict[str, float | None]:
    """The KPI strip as the API answers it (what the page must show)."""
    dates = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    visitors = api.get("visitors/", token, **dates, **filters).json()["data"]
    totals = api.get("traffic/", token, **dates).json()["data"]["totals"]
    conversions = api.get("conversions/", token, **dates).json()["data"]
    return {
        "visitors": visitors["total_visitors"],
        "signed_in": visitors["authenticated_visitors"],
        "anonymous": visitors["anonymous_visitors"],
        "page_views": visitors["total_page_views"],
        "visits": totals["visits"],
        "bounce_rate": totals["bounce_rate"],
        "visit_duration": totals["avg_visit_duration_s"],
        "pages_per_visit": rounded(totals["page_views"], totals["visits"], 2),
        "conversions": conversions["total_conversions"],
    }


def test_the_dashboard_loads_with_a_token_and_shows_no_console_error(page, api, analyst):
    sign_in(page, f"{api.url}/", analyst)
    panels = page.eval_on_selector_all("[data-panel]", "els => els.map(e => e.dataset.panel)")
    expected = {"kpis", "traffic", "pages", "referrers", "countries", "communities", "flows", "peaks", "content"}
    assert expected <= set(panels)
    assert page.locator("#app .error").count() == 0
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
    assert page.seen.clean(), page.seen
    # The token is in no URL, and the page cannot read the cookie that carries it.
    assert analyst not in page.url and page.evaluate("document.cookie") == ""
    assert page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)") == "{}{}"


@pytest.mark.parametrize("start,end", [LAST_30, (FIRST, NEWEST), (NEWEST, NEWEST)], ids=["30-days", "all", "newest"])
def test_each_kpi_equals_the_api_and_the_ground_truth(page, api, analyst, demo_site, site_truth, start, end):
    sign_in(page, f"{api.url}/{view(start, end)}", analyst)
    shown = kpis(page)
    assert shown == api_kpis(api, analyst, start, end)
    assert shown == expected_kpis(demo_site, site_truth, start, end)
    assert shown["visitors"] > 0 and page.seen.clean(), page.seen


def test_clicking_a_community_filters_the_panels_and_clearing_restores_them(page, api, analyst, demo_site, site_truth):
    start, end = LAST_30
    sign_in(page, f"{api.url}/", analyst)
    site_wide = kpis(page)
    wait_redrawn(page, lambda: page.click("#panel-communities button[data-filter=community][data-value=C001]"))
    assert "community=C001" in page.url
    shown = kpis(page)
    assert shown == expected_kpis(demo_site, site_truth, start, end, slug="toronto")
    assert shown["visitors"] < site_wide["visitors"]
    rows = page.eval_on_selector_all(
        "#panel-traffic table.numbers tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    trend = site_truth.trends("day", start, end, "toronto")
    assert [r[0] for r in rows] == trend["labels"]
    assert [int(r[1].replace(",", "")) for r in rows] == trend["total"]
    (current,) = [r for r in demo_site.truth.current_visitors() if r["community_slug"] == "toronto"]
    assert page.get_attribute("#panel-realtime [data-count]", "data-count") == str(current["visitors"])
    # Panels the warehouse cannot split by community say so.
    assert page.locator("#panel-pages .badge").is_visible() and not page.locator("#panel-kpis .badge").is_visible()
    wait_redrawn(page, lambda: page.click(".chip[data-filter=community] button.clear"))
    assert kpis(page) == site_wide and "community=" not in page.url
    assert page.seen.clean(), page.seen


def test_clicking_a_division_filters_the_visitors(page, api, analyst, demo_site, site_truth):
    start, end = LAST_30
    sign_in(page, f"{api.url}/", analyst)
    wait_redrawn(page, lambda: page.click("#panel-divisions button[data-filter=division][data-value=CA-ON]"))
    assert kpis(page) == expected_kpis(demo_site, site_truth, start, end, division="CA-ON")
    # The view is in the URL: opening it again shows the same.
    shared = page.url
    page.goto("about:blank")
    page.goto(shared)
    page.wait_for_selector(COMPLETE)
    assert kpis(page) == expected_kpis(demo_site, site_truth, start, end, division="CA-ON")
    assert page.seen.clean(), page.seen


def test_every_panel_downloads_its_numbers_as_csv(page, api, analyst, site_truth):
    start, end = LAST_30
    sign_in(page, f"{api.url}/", analyst)
    buttons = page.locator("[data-panel] button.csv")
    assert buttons.count() == page.locator("[data-panel]").count()
    assert page.locator("[data-panel] button.csv:disabled").count() == 0
    with page.expect_download() as download:
        page.click("#panel-pages button.csv")
    assert download.value.suggested_filename == f"footfall-pages-{start}-{end}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["Page", "Page views", "Visitor-days"]
    expected = site_truth.pages(start, end, 10)
    assert [[r["path"], str(r["page_views"]), str(r["visitors"])] for r in expected] == rows[1:]
    with page.expect_download() as download:
        page.click("#panel-traffic button.csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    trend = site_truth.trends("day", start, end, None)
    assert [r[0] for r in rows[1:]] == trend["labels"] and [int(r[1]) for r in rows[1:]] == trend["total"]
    assert page.seen.clean(), page.seen


def _change(current, previous, points: bool) -> float | None:
    if current is None or previous is None:
        return None
    if points:
        return float(Decimal(str(current)) - Decimal(str(previous)))
    if previous == 0:
        return None
    exact = (Decimal(str(current)) - Decimal(str(previous))) * 100 / Decimal(str(previous))
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def test_the_comparison_shows_the_right_deltas(page, api, analyst, demo_site, site_truth):
    start, end = NEWEST - dt.timedelta(days=13), NEWEST
    before = (start - dt.timedelta(days=14), start - dt.timedelta(days=1))
    sign_in(page, f"{api.url}/{view(start, end, compare='previous')}", analyst)
    current = expected_kpis(demo_site, site_truth, start, end)
    previous = expected_kpis(demo_site, site_truth, *before)
    expected = {k: _change(current[k], previous[k], k == "bounce_rate") for k in current}
    assert deltas(page) == expected
    assert any(v for v in expected.values()) and page.seen.clean(), page.seen
    # A year earlier the site had no traffic: no change can be computed, none is shown.
    wait_redrawn(page, lambda: page.select_option("#compare", "year"))
    assert "compare=year" in page.url
    assert set(deltas(page).values()) == {None}


def test_a_viewer_does_not_see_restricted_panels(page, api, viewer, demo_site):
    sign_in(page, f"{api.url}/", viewer)
    panels = set(page.eval_on_selector_all("[data-panel]", "els => els.map(e => e.dataset.panel)"))
    assert panels == {"kpis", "traffic", "realtime", "peaks"}
    assert page.locator("button[data-filter]").count() == 0
    (row,) = demo_site.truth.visitor_stats(*LAST_30)
    assert kpis(page)["visitors"] == row["visitors"]
    # A community in a shared URL is ignored for a viewer (the API would refuse it).
    wait_redrawn(page, lambda: page.goto(f"{api.url}/#range=30d&community=C001"))
    assert kpis(page)["visitors"] == row["visitors"]
    assert page.seen.clean(), page.seen
    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert api.get("session/").json()["data"] is None


@pytest.mark.parametrize(
    "fragment", ["#range=30d", "#range=all&community=C001", "#range=7d&division=CA-ON&compare=previous", "#range=90d"]
)
def test_the_report_opens_offline_and_shows_the_dashboards_kpis(page, report_page, api, analyst, report, fragment):
    sign_in(page, f"{api.url}/{fragment}", analyst)
    report_page.goto(report.path.as_uri() + fragment)
    report_page.wait_for_selector(COMPLETE, timeout=30_000)
    assert kpis(report_page) == kpis(page)
    assert deltas(report_page) == deltas(page)
    assert report_page.seen.clean(), report_page.seen
    if fragment == "#range=30d":
        OUTPUT.mkdir(exist_ok=True)
        report_page.screenshot(path=str(OUTPUT / "report.png"), full_page=True)


def same(value):
    """JSON as JavaScript sees it: 25.0 and 25 are one number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: same(v) for k, v in value.items()}
    if isinstance(value, list):
        return [same(v) for v in value]
    return value


# Every request the page makes, with ranges and filters: the report must answer each as the API does.
RANGES = [{}, {"start_date": FIRST.isoformat(), "end_date": NEWEST.isoformat()}, {"start_date": NEWEST.isoformat()}]
REQUESTS = [
    ("visitors/", {}), ("visitors/", {"community_id": "C001"}), ("visitors/", {"division_id": "CA"}),
    ("visitors/", {"community_id": "C009", "division_id": "CA-QC"}), ("traffic/", {}), ("conversions/", {}),
    ("trends/", {"interval": "day"}), ("trends/", {"interval": "week", "community_id": "C010"}),
    ("trends/", {"interval": "month"}), ("trends/", {"interval": "hour", "community_id": "C001"}),
    ("pages/", {"limit": 1000}), ("entry-pages/", {"limit": 1000}), ("referrers/", {"limit": 1000}),
    ("countries/", {"limit": 1000}), ("devices/", {}), ("status-codes/", {"limit": 1000}),
    ("crawlers/", {"limit": 1000}),
    ("community-breakdown/", {"limit": 1000}), ("division-breakdown/", {"limit": 1000}),
    ("cross-division-flows/", {"limit": 1000}), ("peak-visitors/", {}), ("peak-visitors/", {"community_id": "C010"}),
    ("content/", {"limit": 1000}), ("pages/", {}),
]  # fmt: skip


@pytest.mark.parametrize("dates", RANGES, ids=["default", "all", "from-newest"])
def test_the_report_answers_every_request_as_the_api_does(report_page, api, analyst, report, dates):
    report_page.goto(report.path.as_uri())
    report_page.wait_for_selector(COMPLETE, timeout=30_000)
    for path, params in REQUESTS:
        if path == "trends/" and params["interval"] == "hour" and not dates.get("start_date") == NEWEST.isoformat():
            continue  # hours of one day are enough; the other ranges check days, weeks and months
        asked = {**dates, **params}
        from_api = api.get(path, analyst, **asked).json()
        from_report = report_page.evaluate("([p, q]) => footfallReport.source.get(p, q)", [path, asked])
        assert from_report["range"] == from_api["range"], path
        assert same(from_report["data"]) == same(from_api["data"]), (path, asked)
    realtime = report_page.evaluate("footfallReport.source.get('realtime/', {community_id: 'C001'})")["data"]
    from_api = api.get("realtime/", analyst, community_id="C001").json()["data"]
    assert {k: v for k, v in realtime.items() if k != "age_seconds"} == {
        k: v for k, v in from_api.items() if k != "age_seconds"
    }
    assert abs(realtime["age_seconds"] - from_api["age_seconds"]) < 60
    assert report_page.seen.clean(), report_page.seen
