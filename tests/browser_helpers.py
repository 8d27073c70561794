"""A real headless Chromium for the dashboard's tests: Debian's ``/usr/bin/chromium`` driven by
Playwright's Python package (no browser download; ``make test`` installs the package with
apt-get when it is missing). Each context starts from a fresh temporary profile (Playwright's
own user data dir per launch)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
# ../shared/CONVENTIONS.md: without these it keeps trying to reach the network.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots for review (git-ignored).
OUTPUT = REPO / "test-output"
COMPLETE = "#app[data-complete=true]"


@contextmanager
def chromium():
    """A launched browser; fails with what to do when Debian's chromium is missing."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that it must not: console errors, uncaught exceptions, dialogs, requests
    to an origin other than ``allowed`` (scheme://host:port, or "file")."""

    allowed: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        return not (self.errors or self.dialogs or self.foreign)

    def __str__(self) -> str:
        return f"errors={self.errors} dialogs={self.dialogs} foreign requests={self.foreign}"


def watch(page, allowed: str) -> Watch:
    """Record on ``page`` everything :class:`Watch` lists."""
    seen = Watch(allowed)

    def on_console(message) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    def on_dialog(dialog) -> None:
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_request(request) -> None:
        parts = urlsplit(request.url)
        origin = "file" if parts.scheme == "file" else f"{parts.scheme}://{parts.netloc}"
        if parts.scheme not in ("data", "blob") and origin != allowed:
            seen.foreign.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on("dialog", on_dialog)
    page.on("request", on_request)
    return seen


def offline_context(browser, **options):
    """A context where every request that is not for a ``file:`` URL is aborted."""
    context = browser.new_context(**options)

    def route(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", route)
    return context


def sign_in(page, url: str, token: str) -> None:
    """Open the dashboard at ``url`` and sign in with ``token``; returns once every panel is drawn."""
    page.goto(url)
    page.fill("#token", token)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector(COMPLETE, timeout=30_000)


def kpis(page) -> dict[str, float | None]:
    """The KPI strip: key -> the number shown (data-value), None when there is none."""
    found = page.eval_on_selector_all("[data-kpi]", "els => els.map(e => [e.dataset.kpi, e.dataset.value])")
    return {key: (float(value) if value else None) for key, value in found}


def deltas(page) -> dict[str, float | None]:
    """The KPI strip's changes against the comparison (data-delta)."""
    found = page.eval_on_selector_all(
        "[data-kpi]", "els => els.map(e => [e.dataset.kpi, e.querySelector('[data-delta]')?.dataset.delta ?? null])"
    )
    return {key: (float(value) if value else None) for key, value in found}


def wait_redrawn(page, action) -> None:
    """Run ``action`` (which changes the view) and wait until the dashboard is complete again."""
    page.evaluate("document.getElementById('app').removeAttribute('data-complete')")
    action()
    page.wait_for_selector(COMPLETE, timeout=30_000)


def embedded_report_data(html: str) -> tuple[str, dict]:
    """The data block of a one-file report as written (base64) and unpacked (gzipped JSON)."""
    import base64
    import gzip
    import json

    block = html.split('id="footfall-data">', 1)[1].split("</script>", 1)[0]
    return block, json.loads(gzip.decompress(base64.b64decode(block)))
