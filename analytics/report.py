"""The one-file HTML report: the dashboard, its scripts, styles and numbers in one file that opens
from ``file://`` with no server and no network (``python -m analytics report``, ``make report``).

The page is ``web/report.html`` with, inlined: ``web/app.css`` and uPlot's stylesheet, uPlot,
the dashboard's modules (``web/js``) joined into one script, and the embedded aggregates
(analytics/report_data.py) as a data block of base64 gzipped JSON. A Content-Security-Policy in a meta tag allows
exactly those inline scripts and styles (by their SHA-256) and nothing else: no other script,
no network request, no form, no base URL.

The modules are joined without a build tool: each is plain ES module code whose imports are
single ``import {...} from "./x.js";`` lines and whose exports are ``export`` declarations; the
joiner drops the import lines and the ``export`` keywords and wraps everything in one function
scope, in dependency order (:data:`MODULES`).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from analytics.params import newest_day
from analytics.reader import SnapshotReader
from analytics.report_data import embedded_data
from analytics.settings import MAX_RANGE_DAYS
from analytics.web import WEB_DIR

# The report's modules, each after the ones it imports.
MODULES = ("util.js", "charts.js", "panels.js", "dashboard.js", "embedded-tables.js", "embedded.js", "report.js")
_IMPORT_RE = re.compile(r'^import \{[^}]*\} from "\./[\w-]+\.js";\n', re.M)
_EXPORT_RE = re.compile(r"^export (?=(async )?(function|const|class|let) )", re.M)
_PLACEHOLDER_RE = re.compile(r"\{(csp|title|style|data|uplot|script)\}")


class ReportError(ValueError):
    """The report cannot be written as asked (bad range, unknown site); the message says why."""


@dataclass(frozen=True)
class Report:
    """A written report: where, how big, which days."""

    path: Path
    size: int
    start: dt.date
    end: dt.date


def bundle(web_dir: Path = WEB_DIR) -> str:
    """The dashboard's modules of :data:`MODULES` as one classic script.

    Raises:
        ReportError: a module has an import the joiner does not understand (a multi-line or
            default import), which would break the report.
    """
    parts = []
    for name in MODULES:
        source = (web_dir / "js" / name).read_text(encoding="utf-8")
        source = _IMPORT_RE.sub("", source)
        if re.search(r"^\s*import\b", source, re.M):
            raise ReportError(f'web/js/{name}: only single-line `import {{...}} from "./x.js";` can be joined')
        parts.append(f"// ---- web/js/{name}\n{_EXPORT_RE.sub('', source)}")
    # Top-level await is not allowed in a classic script: the report's entry has none.
    return '(() => {\n"use strict";\n' + "\n".join(parts) + "\n})();\n"


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _packed(data: dict) -> str:
    """The embedded data as base64 of gzipped JSON: the page inflates it with the browser's own
    DecompressionStream. Columnar rows of a year compress about tenfold, which keeps a year's
    report far under 2 MB; base64 holds no "<", so no log string can close the data block."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def render(data: dict, title: str, web_dir: Path = WEB_DIR) -> str:
    """The report's HTML for embedded ``data`` (analytics.report_data.embedded_data)."""
    style = (
        (web_dir / "vendor/uplot/uPlot.min.css").read_text(encoding="utf-8")
        + "\n"
        + (web_dir / "app.css").read_text(encoding="utf-8")
    )
    uplot = (web_dir / "vendor/uplot/uPlot.iife.min.js").read_text(encoding="utf-8")
    script = bundle(web_dir)
    csp = "; ".join(
        (
            "default-src 'none'",
            f"script-src {_hash(uplot)} {_hash(script)}",
            f"style-src {_hash(style)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    values = {
        "csp": csp,
        "title": html.escape(title),
        "style": style,
        "uplot": uplot,
        "script": script,
        "data": _packed(data),
    }
    template = (web_dir / "report.html").read_text(encoding="utf-8")
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)


def _sites(cur) -> list[str]:
    # The events kept (FOOTFALL_RETENTION_EVENTS_DAYS): the site column only, from Parquet.
    return [
        row[0] for row in cur.execute("select distinct site from events where site is not null order by 1").fetchall()
    ]


def write_report(
    data_dir: Path, output: Path, start: dt.date | None = None, end: dt.date | None = None, site: str | None = None
) -> Report:
    """Write the report of the snapshot in ``data_dir`` for ``start``..``end`` to ``output``.

    Without dates: every day with data, at most the newest 400 (the API's longest range).

    Raises:
        analytics.reader.NoSnapshot: nothing published yet.
        ReportError: the range is reversed or longer than 400 days, or ``site`` is not the
            (only) site of the snapshot: the aggregates have no site dimension yet
            (docs/operators/operations.md, Sites).
    """
    reader = SnapshotReader(Path(data_dir))
    try:
        with reader.cursor() as (identity, cur):
            if site is not None:
                sites = _sites(cur)
                if sites and sites != [site]:
                    raise ReportError(
                        f"--site {site!r}: the snapshot holds the sites {', '.join(sites)} and its aggregates are over "
                        "all of them (they have no site dimension yet, docs/operators/operations.md#sites); "
                        "leave out --site for a report of all sites"
                    )
            newest = newest_day(identity)
            end = end or newest
            if start is None:
                first = cur.execute("select min(day) from daily_traffic where page_views > 0").fetchone()[0]
                start = max(first or end, end - dt.timedelta(days=MAX_RANGE_DAYS - 1))
            if end < start:
                raise ReportError(f"--to {end} is before --from {start}")
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise ReportError(
                    f"--from {start} --to {end} spans {(end - start).days + 1} days; at most {MAX_RANGE_DAYS}"
                )
            data = embedded_data(cur, identity, start, end)
    finally:
        reader.close()
    data["generated_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    data["site"] = site
    title = f"footfall report{' — ' + site if site else ''}"
    body = render(data, title).encode("utf-8")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_bytes(body)
    tmp.replace(output)
    return Report(output, len(body), start, end)
