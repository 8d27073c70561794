"""The aggregates the one-file report embeds, read from the published snapshot.

The report's page (web/js/embedded.js) answers the dashboard's requests from these tables, so
every panel and filter works offline. Tables are columnar (one JSON array per column); days
are whole days since ``start``, hours whole hours since ``start`` at 00:00 (wall-clock in
FOOTFALL_TIMEZONE), both run-length encoded differences (``"z": 1``); strings are indexes into
one ``strings`` list (each distinct string once).

Unique visitors over any range are exact: signed-in users (one visitor over every range) come as
one row per day, user and community, the user being a report-local number assigned here in
order of first page view (``report_users.sql``): neither the keyed user hash nor any other
identifier that exists outside the report is written. Anonymous visitors (a new key every day)
come as counts per day, division and community, which add up over days.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from analytics import queries
from analytics.reader import Identity

# Embedded table -> (query in analytics/sql, its string columns).
TABLES = {
    "traffic_days": ("report_traffic_days", ()),
    "traffic_hours": ("report_traffic_hours", ()),
    "visitor_hours": ("report_visitor_hours", ("community",)),
    "user_days": ("report_user_days", ("division", "community")),
    "anonymous_days": ("report_anonymous_days", ("division", "community")),
    "anonymous_flows": ("report_anonymous_flows", ("from_division", "to_division")),
    "pages": ("report_pages", ("path",)),
    "entry_pages": ("report_entry_pages", ("path",)),
    "referrers": (
        "report_referrers",
        ("referrer_class", "referrer_domain", "utm_source", "utm_medium", "utm_campaign"),
    ),
    "countries": ("report_countries", ("country_code",)),
    "devices": ("report_devices", ("device_type", "browser_family", "os_family")),
    "statuses": ("report_statuses", ()),
    "not_found": ("report_not_found", ("path",)),
    "crawlers": ("report_crawlers", ("crawler_name",)),
    "conversions": ("report_conversions", ()),
    "peaks": ("report_peaks", ("community", "window_start")),
    "current": ("report_current", ("community", "window_end")),
    "post_users": ("report_post_users", ("post",)),
    "post_anonymous": ("report_post_anonymous", ("post",)),
    "posts": ("report_posts", ("post", "kind")),
    "divisions": ("report_dimensions", ("division_id", "name", "type")),
    "communities": ("communities", ("community_id", "community_slug", "division_id", "division_name")),
}


class _Strings:
    """Each distinct string once; columns hold its index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str | None) -> int | None:
        if value is None:
            return None
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found


def _runs(values: list[int]) -> list[int]:
    """Days and hours (rows come ordered by them): the differences between neighbours, run-length
    encoded as ``[difference, times, difference, times, ...]``."""
    out: list[int] = []
    previous = 0
    for value in values:
        step, previous = value - previous, value
        if out and out[-2] == step:
            out[-1] += 1
        else:
            out += [step, 1]
    return out


def _column(name: str, values: list, strings: _Strings, start: dt.date, is_string: bool) -> dict:
    if is_string:
        return {"s": 1, "v": [strings(v) for v in values]}
    if name == "ancestors":
        return {"v": [[strings(a) for a in (v or [])] for v in values]}
    if name == "day":
        return {"z": 1, "v": _runs([(v - start).days for v in values])}
    if name == "hour":
        midnight = dt.datetime.combine(start, dt.time())
        return {"z": 1, "v": _runs([int((v - midnight).total_seconds() // 3600) for v in values])}
    return {"v": [float(v) if isinstance(v, float) else v for v in values]}


def embedded_data(cur: duckdb.DuckDBPyConnection, identity: Identity, start: dt.date, end: dt.date) -> dict:
    """Everything the report's page needs for the days ``start``..``end`` (inclusive).

    Returns:
        ``{"format": 1, "start", "end", "first_day", "newest_day", "timezone", "snapshot",
        "strings": [...], "tables": {name: {column: {"v": [...], "s": 1 if strings}}}}``.
    """
    strings = _Strings()
    queries.rows(cur, "report_users", start=start, end=end)  # the temp table report_users
    tables = {}
    for name, (query, string_columns) in TABLES.items():
        found = queries.columns(cur, query, start=start, end=end)
        tables[name] = {
            column: _column(column, values, strings, start, column in string_columns)
            for column, values in found.items()
        }
    days = queries.one(cur, "session_days") or {}
    newest = identity.newest_day.isoformat() if identity.newest_day else days.get("newest_day")
    first = days.get("first_day")
    return {
        "format": 1,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "first_day": max(first, start.isoformat()) if first else None,
        "newest_day": min(newest, end.isoformat()) if newest else end.isoformat(),
        "timezone": identity.timezone,
        "snapshot": identity.as_dict(),
        "strings": strings.values,
        "tables": tables,
    }
