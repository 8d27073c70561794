"""The dashboard's country, page and referrer filters in a real headless Chromium.

The site of tests/filter_site.py (conftest.filter_site) is served by ``python -m analytics
serve``; a click on a country, a page and a referrer must change every panel that honours the
filter to the numbers of the plain-Python oracle (tests/filter_site.expected), put the filter
in the URL, survive a reload, and go with its chip. Hostile paths and referrers must filter
like any other and stay text.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from api_helpers import create_token
from browser_helpers import COMPLETE, OUTPUT, chromium, kpis, sign_in, wait_redrawn, watch
from filter_site import DAYS, HOSTILE_PAGES, HOSTILE_REFERRERS, expected, stored

# The session's ingest DAG run and an API server (the dashboard's tests add a browser); the log's
# addresses come from ../shared/data/real/apache_logs.
pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

FIRST, LATER = DAYS[:2], DAYS[2:]
# The panels that honour the event filters, and those that keep the whole site's numbers.
WHOLE_SITE = ["realtime", "crawlers", "communities", "divisions", "flows", "content"]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def analyst(filter_site) -> str:
    return create_token(filter_site[1], "analyst", "dashboard filter tests")


@pytest.fixture
def page(browser, filter_site):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.seen = watch(opened, filter_site[0].url)
    yield opened
    context.close()


def fragment(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).fragment).items()}


def rows(page, panel: str) -> dict[str, tuple[float, ...]]:
    """A bar table's rows: the filter value of the row (else its label) -> its numbers."""
    found = page.eval_on_selector_all(
        f"#panel-{panel} table.bars tbody tr",
        "trs => trs.filter(tr => tr.querySelector('td.label')).map(tr => ["
        "  tr.querySelector('button[data-filter]')?.dataset.value ?? tr.querySelector('td.label .text').innerText,"
        "  [...tr.querySelectorAll('td.num')].map(td => td.textContent)])",
    )
    return {
        label: tuple(float(n.replace(",", "")) if n not in ("", "–") else None for n in numbers)
        for label, numbers in found
    }


def assert_panels_equal_the_oracle(page, hits, filters: dict[str, str]) -> None:
    want = expected(hits, filters, LATER)
    shown = kpis(page)
    assert shown["visitors"] == want["visitors"] and shown["page_views"] == want["page_views"], (filters, shown)
    assert shown["visits"] == want["visits"] and shown["bounce_rate"] == want["bounce_rate"], (filters, shown)
    assert shown["visit_duration"] == want["avg_visit_duration_s"], (filters, shown)
    # The comparison (the previous two days) is under the same filters.
    before = expected(hits, filters, FIRST)
    previous = page.eval_on_selector_all(
        "[data-kpi]", "els => els.map(e => [e.dataset.kpi, e.querySelector('[data-previous]')?.dataset.previous])"
    )
    previous = {k: float(v) if v else None for k, v in previous}
    assert (previous["visitors"], previous["page_views"], previous["visits"]) == (
        before["visitors"],
        before["page_views"],
        before["visits"],
    ), filters
    trend = page.eval_on_selector_all(
        "#panel-traffic table.numbers tbody tr td:nth-child(2)", "tds => tds.map(td => td.textContent)"
    )
    assert sum(int(v) for v in trend) == want["visitors"]
    for panel, key, columns in (("pages", "pages", 2), ("countries", "countries", 2), ("entry-pages", "entries", 1)):
        table = rows(page, panel)
        assert len(table) == min(10, len(want[key])), (panel, table)
        for label, numbers in table.items():
            assert numbers[:columns] == want[key][label][:columns], (panel, label)
    referrers = rows(page, "referrers")
    for domain, numbers in referrers.items():
        if domain in want["referrers"]:
            assert numbers == want["referrers"][domain], domain
    assert sum(n[0] for n in referrers.values()) == want["page_views"]
    assert {int(k): v[0] for k, v in rows(page, "statuses").items()} == want["statuses"]
    for panel in ("kpis", "traffic", "pages", "countries", "referrers", "devices", "peaks"):
        assert page.locator(f"#panel-{panel} .badge").is_hidden(), panel
    for panel in WHOLE_SITE:
        assert page.locator(f"#panel-{panel} .badge").inner_text() == "whole site", panel


def click_filter(page, panel: str, kind: str, value: str) -> None:
    button = page.locator(f"#panel-{panel} button[data-filter={kind}][data-value={json.dumps(value)}]")
    wait_redrawn(page, button.click)


def test_clicking_a_country_a_page_and_a_referrer_filters_every_panel(page, filter_site, analyst):
    server, _, hits = filter_site
    start, end = LATER[0].isoformat(), LATER[-1].isoformat()
    sign_in(page, f"{server.url}/#range=custom&from={start}&to={end}&compare=previous", analyst)
    whole = kpis(page)
    for panel, kind, value in (
        ("countries", "country", "US"),
        ("pages", "page", "/about"),
        ("referrers", "referrer", "google.com"),
    ):
        click_filter(page, panel, kind, value)
        assert fragment(page)[kind] == value
        assert page.locator(f".chip[data-filter={kind}] strong").inner_text() == value
        assert_panels_equal_the_oracle(page, hits, {kind: value})
        if kind == "country":
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "dashboard-filtered.png"), full_page=True)
        page.reload()
        page.wait_for_selector(COMPLETE, timeout=30_000)
        assert page.locator(f".chip[data-filter={kind}]").count() == 1
        assert_panels_equal_the_oracle(page, hits, {kind: value})
        wait_redrawn(page, page.locator(f".chip[data-filter={kind}] button.clear").click)
        assert kind not in fragment(page) and "token" not in page.url
        assert kpis(page) == whole
    assert page.seen.clean(), page.seen


def test_the_three_filters_combine(page, filter_site, analyst):
    server, _, hits = filter_site
    start, end = LATER[0].isoformat(), LATER[-1].isoformat()
    sign_in(page, f"{server.url}/#range=custom&from={start}&to={end}&compare=previous&country=US", analyst)
    click_filter(page, "pages", "page", "/about")
    assert {k: fragment(page)[k] for k in ("country", "page")} == {"country": "US", "page": "/about"}
    assert_panels_equal_the_oracle(page, hits, {"country": "US", "page": "/about"})


def test_hostile_paths_and_referrers_filter_and_stay_text(page, filter_site, analyst):
    server, _, hits = filter_site
    sign_in(page, f"{server.url}/#range=custom&from={DAYS[0]}&to={DAYS[-1]}", analyst)
    # The domains of HOSTILE_REFERRERS (the third, javascript:, has none).
    domains = [stored(r.removeprefix("http://").split("/")[0]) for r in HOSTILE_REFERRERS[:2]]
    for panel, kind, value in [("pages", "page", stored(p)) for p in HOSTILE_PAGES] + [
        ("referrers", "referrer", d) for d in domains
    ]:
        click_filter(page, panel, kind, value)
        assert page.locator(f".chip[data-filter={kind}] strong").inner_text() == value
        assert fragment(page)[kind] == value
        assert kpis(page)["page_views"] == expected(hits, {kind: value})["page_views"]
        page.reload()
        page.wait_for_selector(COMPLETE, timeout=30_000)
        assert kpis(page)["page_views"] == expected(hits, {kind: value})["page_views"]
        assert page.locator("#app img, #app svg, #app script").count() == 0
        assert page.evaluate("window.__footfallPwned === undefined")
        wait_redrawn(page, page.locator(f".chip[data-filter={kind}] button.clear").click)
    hrefs = page.eval_on_selector_all("#app a[href]", "links => links.map(a => a.protocol)")
    assert set(hrefs) <= {"https:"}, hrefs
    assert page.seen.clean(), page.seen
