"""The visit-tracking report: page views per hour bucket of one data interval.

Payload shape (what existing receivers parse; docs/reporting.md)::

    {"timestamp": "<data interval end, ISO-8601 UTC>",
     "reporting_interval_seconds": 1800,
     "data": {"YYYY-MM-DD HH": {"count": N, "paths": {...}, "user_agents": {...},
                               "countries": {...}}}}

Hour buckets are UTC. ``count`` is page views (docs/metrics.md); ``paths``,
``user_agents`` (first 100 characters) and ``countries`` count the same page views.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb

from warehouse import storage


def build_hourly_report(con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime) -> dict:
    """Build the report payload for events with ``start <= ts < end`` (aware datetimes).

    ``reporting_interval_seconds`` is the length of ``[start, end)``.

    Deterministic: the same interval and warehouse give the same payload, byte for byte
    once serialised with :func:`dump_payload`.
    """
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    first, last = start.date(), (end - dt.timedelta(microseconds=1)).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    rows = con.execute(
        f"select * from ({storage.model_sql('hourly_traffic')}) order by hour",
        {"days": days, "start": start, "end": end},
    ).fetchall()
    data = {}
    for hour, page_views, paths, user_agents, countries in rows:
        data[hour.astimezone(dt.UTC).strftime("%Y-%m-%d %H")] = {
            "count": page_views,
            "paths": _sorted_counts(paths),
            "user_agents": _sorted_counts(user_agents),
            "countries": _sorted_counts(countries),
        }
    return {
        "timestamp": end.isoformat().replace("+00:00", "Z"),
        "reporting_interval_seconds": int((end - start).total_seconds()),
        "data": data,
    }


def _sorted_counts(counts: dict) -> dict:
    """Most frequent first, ties by key, so payloads are stable."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def dump_payload(payload: dict) -> bytes:
    """Serialise a payload the same way every time (UTF-8 JSON, no NaN)."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def report_name(start: dt.datetime, end: dt.datetime) -> str:
    """File name of the report of one interval, e.g. ``visits-20150520T100000Z-20150520T103000Z.json``."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"visits-{start.astimezone(dt.UTC):{fmt}}-{end.astimezone(dt.UTC):{fmt}}.json"


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def build_report_file(settings, start: dt.datetime, end: dt.datetime) -> Path:
    """Build the report of ``[start, end)`` into ``reports/`` and return its path.

    Idempotent: building the same interval again rewrites the same file with the same bytes.
    """
    con = storage.connect(settings.data_dir)
    try:
        payload = build_hourly_report(con, start, end)
    finally:
        con.close()
    return write_atomic(settings.reports_dir / report_name(start, end), dump_payload(payload))
