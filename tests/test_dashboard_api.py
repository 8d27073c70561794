"""What the API adds for the dashboard, over HTTP against ``python -m analytics serve`` on the demo
site: the sign-in cookie, the community breakdown (against the generator's ground truth), the
page's files with their security headers, and the report command."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from api_helpers import PREFIX, cli, create_token, start_api
from browser_helpers import embedded_report_data

from analytics.settings import ApiSettings
from warehouse.settings import ConfigError

pytestmark = pytest.mark.slow

NEWEST = dt.date(2026, 10, 31)
FIRST = NEWEST - dt.timedelta(days=44)


@pytest.fixture(scope="module")
def api(demo_site, tmp_path_factory):
    server = start_api(demo_site.env, tmp_path_factory.mktemp("dashboard-api") / "serve.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def analyst(demo_site) -> str:
    return create_token(demo_site.env, "analyst", "dashboard api tests")


def test_signing_in_sets_an_httponly_samesite_cookie_that_every_endpoint_accepts(api, analyst, demo_site):
    with httpx.Client(base_url=f"{api.url}{PREFIX}/", timeout=30) as client:
        assert client.get("session/").json() == {"data": None, "range": None, "snapshot": None}
        assert client.get("visitors/").status_code == 401
        signed = client.post("session/", json={"token": analyst})
        assert signed.status_code == 200, signed.text
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith(f"footfall_session={analyst};")
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/api/analytics/"} <= attributes
        assert not any(a.startswith(("expires", "max-age")) for a in attributes)  # gone when the browser closes
        session = signed.json()["data"]
        assert session == {
            "token_id": analyst.split("_")[1], "role": "analyst",
            "first_day": FIRST.isoformat(), "newest_day": NEWEST.isoformat(),
        }  # fmt: skip
        assert client.get("session/").json()["data"] == session
        (row,) = demo_site.truth.visitor_stats_last(30)
        assert client.get("visitors/").json()["data"]["total_visitors"] == row["visitors"]
        signed_out = client.delete("session/")
        assert signed_out.status_code == 204 and 'footfall_session=""' in signed_out.headers["set-cookie"]
        assert client.get("visitors/").status_code == 401
    log = api.log.read_text()
    assert analyst not in log and analyst.split("_", 2)[2] not in log


def test_a_wrong_token_gets_401_and_no_cookie(api):
    for body in ({"token": "ff_00000000_" + "A" * 43}, {"token": ""}):
        refused = httpx.post(f"{api.url}{PREFIX}/session/", json=body, timeout=30)
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert set(refused.json()) == {"error"}
    assert httpx.post(f"{api.url}{PREFIX}/session/", content=b"token=x", timeout=30).status_code == 422


def test_a_viewer_cookie_is_refused_detail_like_a_viewer_header(api, demo_site):
    viewer = create_token(demo_site.env, "viewer", "cookie")
    with httpx.Client(base_url=f"{api.url}{PREFIX}/", timeout=30) as client:
        assert client.post("session/", json={"token": viewer}).json()["data"]["role"] == "viewer"
        assert client.get("pages/").status_code == 403
        assert client.get("visitors/", params={"community_id": "C001"}).status_code == 403
        assert client.get("visitors/").status_code == 200


@pytest.mark.parametrize("start,end,limit", [(FIRST, NEWEST, 10), (NEWEST - dt.timedelta(days=6), NEWEST, 3)])
def test_community_breakdown(api, analyst, demo_site, start, end, limit):
    from demo.traffic import COMMUNITIES, DIVISIONS

    dates = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    answer = api.get("community-breakdown/", analyst, **dates, limit=limit)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    truth = demo_site.truth
    communities = {c.community_slug: c for c in COMMUNITIES}
    names = {d.division_id: d.name for d in DIVISIONS}
    expected = []
    for slug, community in communities.items():
        (row,) = truth.visitor_stats(start, end, slug)
        if not row["visitors"]:
            continue
        divisions = [r for r in truth.community_division_breakdown(start, end, limit) if r["community_slug"] == slug]
        expected.append({
            "community_id": community.community_id, "community_slug": slug, "division_id": community.division_id,
            "division_name": names[community.division_id], "visitors": row["visitors"],
            "signed_in_visitors": row["signed_in_visitors"], "page_views": row["page_views"],
            "divisions": [{"division_id": d["division_id"], "division_name": d["division_name"],
                           "visitors": d["visitors"], "percentage": d["pct"]} for d in divisions],
        })  # fmt: skip
    expected.sort(key=lambda r: (-r["visitors"], r["community_slug"]))
    assert data == expected
    assert len(data) > 5 and all(len(r["divisions"]) <= limit for r in data)


def test_the_dashboard_is_served_at_the_root_with_a_strict_csp(api):
    page = httpx.get(f"{api.url}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'self'"
    assert page.headers["x-content-type-options"] == "nosniff"
    # No inline script or style in the page: the CSP would refuse it.
    assert not re.search(r"<script>|<style|style=|\son\w+=", page.text)
    for asset in ("js/main.js", "app.css", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/LICENSE"):
        found = httpx.get(f"{api.url}/{asset}", timeout=30)
        assert found.status_code == 200 and "content-security-policy" in found.headers, asset
    assert httpx.get(f"{api.url}/../.secrets/x", timeout=30).status_code == 404


def test_frame_ancestors_setting():
    found = ApiSettings.from_env({"FOOTFALL_DASHBOARD_FRAME_ANCESTORS": "'self'  http://localhost:8080"})
    assert found.frame_ancestors == "'self' http://localhost:8080"
    with pytest.raises(ConfigError, match="FOOTFALL_DASHBOARD_FRAME_ANCESTORS"):
        ApiSettings.from_env({"FOOTFALL_DASHBOARD_FRAME_ANCESTORS": "'self'; script-src *"})


def test_the_report_command_writes_one_file_and_prints_its_path(demo_site, tmp_path):
    target = tmp_path / "out" / "r.html"
    done = cli(demo_site.env, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(target.resolve())
    html = target.read_text(encoding="utf-8")
    _, data = embedded_report_data(html)
    assert (data["start"], data["end"], data["newest_day"]) == ("2026-10-01", "2026-10-31", "2026-10-31")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:)", html)  # nothing loaded from anywhere
    for args, message in [
        (("--from", "2026-10-31", "--to", "2026-10-01"), "is before"),
        (("--from", "2025-01-01", "--to", "2026-10-31"), "at most 400"),
        (("--from", "yesterday"), "YYYY-MM-DD"),
        (("--site", "shop"), "--site 'shop'"),
    ]:
        failed = cli(demo_site.env, "report", "--output", str(target), *args)
        assert failed.returncode == 2 and message in failed.stderr.strip().splitlines()[-1], failed.stderr
