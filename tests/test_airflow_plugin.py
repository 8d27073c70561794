"""The analytics API as an Airflow 3 plugin: registered by its entry point, mounted in Airflow's
own API server (a real ``airflow api-server`` process), linked from the UI's navigation, and
still asking for its own bearer token (Airflow's auth does not cover a plugin's routes)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import httpx
import pytest
from api_helpers import create_token, free_port
from conftest import REPO

pytestmark = pytest.mark.slow


def test_the_plugin_manager_finds_the_app_and_the_analytics_view(airflow_db):
    from airflow import plugins_manager

    info = {p["name"]: p for p in plugins_manager.get_plugin_info(attrs_to_dump={"fastapi_apps", "external_views"})}
    plugin = info["footfall_analytics"]
    (app,) = plugin["fastapi_apps"]
    assert app == {"app": "analytics.airflow_plugin.LazyAnalyticsApp", "url_prefix": "/footfall", "name": app["name"]}
    (view,) = plugin["external_views"]
    assert view["name"] == "Analytics" and view["destination"] == "nav"
    assert view["href"] == "footfall/"  # the dashboard; relative: no leading slash
    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "footfall analytics API"] == ["/footfall"]


@pytest.fixture(scope="module")
def airflow_api(airflow_db, demo_site, tmp_path_factory):
    """``airflow api-server`` on a free port of 127.0.0.1, with the demo site's settings."""
    port = free_port()
    log = tmp_path_factory.mktemp("airflow-api") / "api-server.log"
    env = {
        **os.environ,
        **demo_site.env,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"airflow api-server did not start: {log.read_text()}"
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_request_through_airflows_api_server_needs_a_token(airflow_api, demo_site):
    base = f"{airflow_api}/footfall/api/analytics"
    refused = httpx.get(f"{base}/visitors/", timeout=30)
    assert refused.status_code == 401 and set(refused.json()) == {"error"}
    token = create_token(demo_site.env, "analyst", "airflow ui")
    answered = httpx.get(f"{base}/visitors/", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answered.status_code == 200, answered.text
    (row,) = demo_site.truth.visitor_stats_last(30)
    assert answered.json()["data"]["total_visitors"] == row["visitors"]
    openapi = httpx.get(f"{base}/openapi.json", timeout=30).json()
    assert "/api/analytics/visitors/" in openapi["paths"]
    docs = httpx.get(f"{base}/docs", timeout=30)
    assert docs.status_code == 200 and "/footfall/api/analytics/openapi.json" in docs.text
    # The dashboard the "Analytics" view frames: same origin as the UI, which its CSP allows.
    page = httpx.get(f"{airflow_api}/footfall/", timeout=30)
    assert page.status_code == 200 and 'src="js/main.js"' in page.text
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    # Signing in there scopes the cookie to the API below Airflow's mount point.
    signed = httpx.post(f"{base}/session/", json={"token": token}, timeout=30)
    assert signed.status_code == 200 and "path=/footfall/api/analytics/" in signed.headers["set-cookie"].lower()
