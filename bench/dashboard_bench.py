"""The dashboard's render time and the one-file report's size and generation time.

Usage (from the repo root)::

    make bench-dashboard
    make bench-dashboard BENCH_ARGS="--runs 10 --copies 10 --keep"

What it does:

1. **Render time on the demo warehouse.** Generates the default demo site (demo/traffic.py,
   seed 7, 45 days) into a fresh temporary directory, ingests it with ``airflow dags test
   footfall_ingest`` (which publishes the snapshot), starts ``python -m analytics serve`` on a
   free port of 127.0.0.1 and creates an analyst token. Debian's Chromium (Playwright) signs
   in once, then loads the page ``--runs`` times (a new navigation each time, the default view
   of 30 days). The render time of a load is the page's own ``performance.now()`` when it sets
   ``data-complete`` (every panel drawn, the chart included): from the start of the navigation,
   so it holds fetching the page's files, asking the session, every API request and drawing.
   The first load meets the API's empty answer cache (each answer computed by DuckDB), the
   later ones its warm cache (a new snapshot empties it). The same is measured for the demo's
   one-file report opened from ``file://``.
2. **A year of the wordpress log.** Replays ``../shared/data/real/wordpress_access3.log.gz``
   (206,860 lines over 38 days) ``--copies`` times (default 10), each copy's dates shifted by
   37 more days (only the date changes; time and UTC offset stay as logged): about 2.07M
   lines over 370 days. Ingests it the same way, then writes the one-file report of the
   newest 365 days (``--runs`` times, in this process) and reports its size and generation
   time, and its render time in Chromium from ``file://``.

   It also prints what embedding the country x page x referrer crossing would add to that
   report (:func:`crossing_size`): the measure behind the report not offering those filters.

Goals: render under 1 s; the report under 2 MB and generated in under 5 s. Printed with the
machine's load (``uptime``) before and after: on this 2-core machine other work skews every
number. Min, median and max over the runs. No log content is printed (the logs hold real
client data, see the shared README).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
# The tests' helpers start the API and Chromium as the tests do; importing them imports the
# tests' conftest, which points Airflow at a throw-away home: keep this process's environment.
_ENV = dict(os.environ)
import api_helpers  # noqa: E402
import browser_helpers  # noqa: E402
from conftest import read_env_file  # noqa: E402

os.environ.clear()
os.environ.update(_ENV)
WORDPRESS = REPO.parent / "shared" / "data" / "real" / "wordpress_access3.log.gz"
_DATE_RE = re.compile(rb"\[(\d{2})/(\w{3})/(\d{4}):")
_MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def spread(values: list[float], unit: str = "ms") -> str:
    return (
        f"min {min(values):.0f} {unit}, median {statistics.median(values):.0f} {unit}, "
        f"max {max(values):.0f} {unit} ({len(values)} runs)"
    )


def ingest(env: dict[str, str], when: str) -> None:
    """``airflow dags test footfall_ingest`` with ``env``; publishes the snapshot."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "footfall_ingest", when],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0 or "state=failed" in done.stdout:
        sys.exit(f"the ingest failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"  ingested in {time.monotonic() - started:.0f} s")


def shifted_copies(dest: Path, copies: int) -> int:
    """``copies`` copies of the wordpress log, copy k's dates shifted by 37 * k days."""
    import datetime as dt

    cache: dict[tuple[bytes, int], bytes] = {}

    def shift(match: re.Match, days: int) -> bytes:
        key = (match.group(0), days)
        if key not in cache:
            day = dt.date(int(match.group(3)), _MONTHS.index(match.group(2)) + 1, int(match.group(1)))
            moved = day + dt.timedelta(days=days)
            cache[key] = b"[%02d/%s/%04d:" % (moved.day, _MONTHS[moved.month - 1], moved.year)
        return cache[key]

    lines = 0
    with open(dest, "wb") as out:
        for k in range(copies):
            with gzip.open(WORDPRESS, "rb") as source:
                for line in source:
                    out.write(_DATE_RE.sub(lambda m, d=37 * k: shift(m, d), line, count=1))
                    lines += 1
    return lines


def render_times(browser, url: str, runs: int, token: str | None = None) -> list[float]:
    """Milliseconds from navigation start to data-complete, per load. With ``token``, signs in
    first on another view (the newest 7 days), so the first load of ``url`` asks the API for
    answers it has not computed yet."""
    from browser_helpers import COMPLETE, sign_in

    context = browser_helpers.offline_context(browser) if url.startswith("file:") else browser.new_context()
    page = context.new_page()
    try:
        if token:
            sign_in(page, url.split("#")[0] + "#range=7d", token)
        times = []
        for _ in range(runs):
            page.goto("about:blank")
            page.goto(url)
            page.wait_for_selector(COMPLETE, timeout=60_000)
            times.append(float(page.get_attribute("#app", "data-render-ms")))
        return times
    finally:
        context.close()


def demo_render(work: Path, runs: int, browser) -> None:
    from analytics.report import write_report
    from demo import traffic

    print("demo site: generating and ingesting (demo/traffic.py, seed 7, 45 days)")
    traffic.generate(work / "demo" / "input")
    env = read_env_file(work / "demo" / "input" / "footfall.env") | {
        "FOOTFALL_DATA_DIR": str(work / "demo" / "data"),
        "FOOTFALL_SECRETS_DIR": str(work / "demo" / "secrets"),
        "FOOTFALL_HASH_KEY": "bench-key-not-a-secret",
    }
    ingest(env, "2026-11-01T06:00:00+00:00")
    server = api_helpers.start_api(env, work / "demo" / "serve.log")
    try:
        token = api_helpers.create_token(env, "analyst", "bench")
        times = render_times(browser, f"{server.url}/#range=30d", runs + 1, token)
        print(f"  dashboard, first load (API answer cache empty): {times[0]:.0f} ms")
        print(f"  dashboard, later loads (cache warm): {spread(times[1:])}")
    finally:
        server.stop()
    report = write_report(Path(env["FOOTFALL_DATA_DIR"]), work / "demo" / "report.html")
    shown = spread(render_times(browser, report.path.as_uri(), runs))
    print(f"  demo report: {report.size:,} bytes; render from file://: {shown}")


def crossing_size(data_dir: Path, start, end) -> tuple[int, int]:
    """What the one-file report would need to answer the country, page and referrer filters
    in the browser, exactly: unique visitors and visits cannot be summed across rows of any
    pre-aggregate, so one row per counted page view of ``start``..``end`` (visitor, second,
    and indexes into the country, path and referrer strings), as JSON, gzipped and base64'd
    like the report's data block. Returns (page views, bytes)."""
    import base64
    import json

    import duckdb

    con = duckdb.connect(str(data_dir / "analytics.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        (tz,) = con.execute("select timezone from snapshot_info").fetchone()
        days = [d for (d,) in con.execute("select day from calendar_days($s, $e)", {"s": start, "e": end}).fetchall()]
        found = con.execute(
            "select dense_rank() over (order by day, visitor_id), epoch(ts)::bigint, coalesce(country_code, 'Unknown'),"
            " path, coalesce(referrer_domain, '') from page_views_local($days, $tz, false)",
            {"days": days, "tz": tz},
        ).fetchall()
    finally:
        con.close()
    strings: dict[str, int] = {}
    columns = [[row[0] for row in found], [row[1] for row in found]]
    columns += [[strings.setdefault(row[k], len(strings)) for row in found] for k in (2, 3, 4)]
    blob = json.dumps({"strings": list(strings), "columns": columns}, separators=(",", ":")).encode()
    return len(found), len(base64.b64encode(gzip.compress(blob, 9)))


def year_report(work: Path, runs: int, copies: int, browser) -> None:
    from analytics.report import write_report

    log = work / "year" / "access.log"
    log.parent.mkdir(parents=True)
    lines = shifted_copies(log, copies)
    print(f"a year of the wordpress log: {lines:,} lines, {copies} copies shifted by 37 days ({37 * copies} days)")
    env = {
        "FOOTFALL_LOG_GLOB": str(log),
        "FOOTFALL_DATA_DIR": str(work / "year" / "data"),
        "FOOTFALL_SECRETS_DIR": str(work / "year" / "secrets"),
        "FOOTFALL_HASH_KEY": "bench-key-not-a-secret",
        "FOOTFALL_MAX_REJECT_RATE": "1",
    }
    ingest(env, "2026-11-01T06:00:00+00:00")
    data_dir = Path(env["FOOTFALL_DATA_DIR"])
    seconds, report = [], None
    for _ in range(runs):
        started = time.perf_counter()
        # The default range: every day with data (all 370 here; at most 400).
        report = write_report(data_dir, work / "year" / "report.html")
        seconds.append(1000 * (time.perf_counter() - started))
    days = (report.end - report.start).days + 1
    print(f"  report of {report.start} to {report.end} ({days} days): {report.size:,} bytes (goal < 2,000,000)")
    print(f"  generation: {spread(seconds)} (goal < 5,000 ms)")
    page_views, extra = crossing_size(data_dir, report.start, report.end)
    print(f"  embedding the country x page x referrer crossing ({page_views:,} page views) would add {extra:,} bytes")
    print(f"  render from file://: {spread(render_times(browser, report.path.as_uri(), runs))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="loads / report generations per measurement")
    parser.add_argument("--copies", type=int, default=10, help="copies of the wordpress log (37 days each)")
    parser.add_argument("--skip-year", action="store_true", help="only the demo's render time")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="footfall-dashboard-bench-"))
    print(f"load before: {uptime()}")
    try:
        with browser_helpers.chromium() as browser:
            demo_render(work, args.runs, browser)
            if not args.skip_year:
                year_report(work, args.runs, args.copies, browser)
    finally:
        print(f"load after: {uptime()}")
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
