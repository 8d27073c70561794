"""Log strings are hostile: script tags, attribute break-outs and ``javascript:`` links in the
paths, referrers and user agents of a real log must show as text in the dashboard and in the
one-file report, and nothing may run (no dialog, no console error, no request elsewhere).

The log is a copy of the first lines of ../shared/data/real/apache_logs with hostile lines
appended (written the way nginx logs them: a double quote inside a field as ``\\x22``), ingested
by the real ingest DAG into a data dir of its own.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from api_helpers import create_token, start_api
from browser_helpers import COMPLETE, OUTPUT, chromium, embedded_report_data, offline_context, sign_in, watch
from conftest import shared_log

from analytics.report import write_report

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "<svg/onload=alert(3)>",
]
WHEN = "20/May/2015:21:{minute:02d}:00 +0000"


def hostile_lines() -> list[str]:
    """Page views (GET, 200) whose path, referrer and user agent carry the payloads, from enough
    clients that every hostile path is among the top pages."""
    lines = []
    for k, payload in enumerate(PAYLOADS):
        logged = payload.replace('"', "\\x22")
        path = "/" + logged.replace(" ", "%20")
        for n, referrer in enumerate(["javascript:alert(4)", f"http://evil.example/{logged}", logged] * 5):
            address = f"198.51.{100 + k}.{10 + n}"
            when = WHEN.format(minute=10 + k)
            lines.append(f'{address} - - [{when}] "GET {path} HTTP/1.1" 200 512 "{referrer}" "{logged} Mozilla/5.0"')
    return lines


@pytest.fixture(scope="module")
def hostile_site(dagbag, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    log = root / "access.log"
    with open(shared_log("apache_logs"), encoding="utf-8", errors="replace") as real:
        head = list(itertools.islice(real, 2000))
    log.write_text("".join(head) + "\n".join(hostile_lines()) + "\n", encoding="utf-8")
    env = {
        "FOOTFALL_LOG_GLOB": str(log),
        "FOOTFALL_DATA_DIR": str(root / "data"),
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        run = dagbag.get_dag("footfall_ingest").test(logical_date=dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    server = start_api(env, root / "serve.log")
    yield server, env, root
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def assert_inert(page) -> None:
    """Nothing ran, the payloads are on the page as text, and no link leaves http(s)."""
    assert page.seen.clean(), page.seen
    text = page.inner_text("#app")
    assert "<script>alert(1)</script>" in text and "<svg/onload=alert(3)>" in text
    assert page.locator("#app img, #app svg, #app script").count() == 0
    hrefs = page.eval_on_selector_all("#app a[href]", "links => links.map(a => a.protocol)")
    assert set(hrefs) <= {"http:", "https:"}, hrefs
    rel = page.eval_on_selector_all("#app a[href]", "links => links.map(a => a.rel)")
    assert set(rel) <= {"noopener noreferrer"}
    assert page.evaluate("window.__footfallPwned === undefined")


def test_hostile_strings_are_text_in_the_dashboard(browser, hostile_site):
    server, env, _ = hostile_site
    token = create_token(env, "analyst", "hostile")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.seen = watch(page, server.url)
    try:
        sign_in(page, f"{server.url}/#range=all", token)
        assert_inert(page)
        # The hostile referrers were counted and are listed, as text.
        assert "evil.example" in page.inner_text("#panel-referrers")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "dashboard-hostile.png"), full_page=True)
    finally:
        context.close()


def test_hostile_strings_are_text_in_the_report(browser, hostile_site):
    _, env, root = hostile_site
    from pathlib import Path

    report = write_report(Path(env["FOOTFALL_DATA_DIR"]), root / "report.html")
    block, data = embedded_report_data(report.path.read_text(encoding="utf-8"))
    # The data block is base64: no log string can close it or open a tag; the strings are inside.
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", block)
    assert "/<script>alert(1)</script>" in data["strings"]
    context = offline_context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.seen = watch(page, "file")
    try:
        page.goto(report.path.as_uri() + "#range=all")
        page.wait_for_selector(COMPLETE, timeout=30_000)
        assert_inert(page)
    finally:
        context.close()
