"""CSV export of the warehouse's views and tables for a date range and an optional community.

``python -m warehouse.cli export VIEW [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--community SLUG]
[--grain hour|day|week|month] [--output FILE]``; without ``--from``/``--to``, every day.
docs/communities.md, docs/metrics.md and docs/schema.md define every view and table;
:data:`EXPORTS` lists which take a range, a community or a grain.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import storage
from warehouse.retention import ROLLUPS


class ExportError(ValueError):
    """An export request the view cannot answer (unknown view, community or grain not supported)."""


@dataclass(frozen=True)
class Export:
    """How one view is exported.

    Attributes:
        sql: the query; ``$start``/``$end`` (dates), ``$community``, ``$grain``, ``$period``
            are bound when used.
        community: ``"column"`` (rows filtered on ``community_slug``), ``"param"`` (the
            view takes it; ``$community`` in ``sql``) or ``None`` (not by community).
        grains: the grains the view accepts (``$grain``), empty when it takes none.
    """

    sql: str
    community: str | None = None
    grains: tuple[str, ...] = ()


def _daily(table: str, community: bool = False) -> Export:
    # hourly_traffic's rows belong to the day of their hour (storage.aggregate_day); the rest have ``day``.
    day = storage.aggregate_day(table)
    return Export(f"select * from {table} where {day} between $start and $end", "column" if community else None)


def _monthly(table: str) -> Export:
    # A month is in the range when any of its days is.
    return Export(f"select * from {table} where month between date_trunc('month', cast($start as date)) and $end")


_RANGE = "$start, $end"
EXPORTS: dict[str, Export] = {
    # docs/communities.md
    "community_daily": _daily("community_daily", community=True),
    "community_division_breakdown": Export(f"select * from community_division_breakdown({_RANGE})", "column"),
    "cross_division_flows": Export(f"select * from cross_division_flows({_RANGE})"),
    "visitor_stats": Export(f"select * from visitor_stats({_RANGE}, community := $community)", "param"),
    "trends": Export(f"select * from trends($grain, {_RANGE})", None, ("hour", "day", "week", "month")),
    "conversions_daily": _daily("conversions_daily"),
    "demographics": Export(f"select * from demographics({_RANGE})"),
    "top_countries": Export(f"select * from top_countries({_RANGE})"),
    "peak_visitors_daily": _daily("peak_visitors_daily", community=True),
    "peak_visitors": Export(
        "select * from peak_visitors($grain) where period_start between date_trunc($grain, cast($start as date)) "
        "and $end",
        "column",
        ("day", "week", "month"),
    ),
    "current_visitors": Export("select * from current_visitors", "column"),
    "content_views_daily": _daily("content_views_daily"),
    "content_views_summary": _daily("content_views_summary"),
    # docs/metrics.md
    "daily_traffic": _daily("daily_traffic"),
    "visits_daily": _daily("visits_daily"),
    "status_daily": _daily("status_daily"),
    "page_daily": _daily("page_daily"),
    "hourly_traffic": _daily("hourly_traffic"),
    "referrers_daily": _daily("referrers_daily"),
    "devices_daily": _daily("devices_daily"),
    "countries_daily": _daily("countries_daily"),
    "bots_daily": _daily("bots_daily"),
    "goaccess_daily": Export("select * from goaccess_daily where day_as_logged between $start and $end"),
    # Monthly rollups (docs/operations.md#rollups): days whose daily rows retention deleted.
    **{rollup.monthly: _monthly(rollup.monthly) for rollup in ROLLUPS},
    # Raw data and its quality (docs/schema.md), by UTC date.
    "events": Export("select * from events where event_date between $start and $end"),
    "quarantine": Export("select * from quarantine where ingest_date between $start and $end"),
    "rejected_lines": Export("select * from rejected_lines where ingest_date between $start and $end"),
    "data_quality": Export("select * from data_quality where cast(committed_at as date) between $start and $end"),
    # Views without a date range.
    "visitor_stats_today": Export("select * from visitor_stats_today"),
    "visitor_stats_7d": Export("select * from visitor_stats_7d"),
    "visitor_stats_30d": Export("select * from visitor_stats_30d"),
    "growth": Export("select * from growth($grain)", None, ("day", "week", "month")),
}


def export_csv(
    con: duckdb.DuckDBPyConnection,
    view: str,
    start: dt.date | None,
    end: dt.date | None,
    *,
    community: str | None = None,
    grain: str | None = None,
    output: Path | None = None,
) -> int:
    """Write ``view`` for days ``start``..``end`` (inclusive, FOOTFALL_TIMEZONE) as CSV.

    Args:
        start, end: the first and last day; ``None`` leaves that end open (every day).
        con: a (read-only) warehouse connection.
        view: a key of :data:`EXPORTS`.
        community: only this community (views with a community dimension).
        grain: ``hour``, ``day``, ``week`` or ``month`` for ``trends`` and ``peak_visitors``
            (default ``day``).
        output: the CSV file (UTF-8, header row, comma-separated; nested values such as
            maps as JSON text); ``None`` writes to stdout.

    Returns:
        The number of data rows written.

    Raises:
        ExportError: unknown view, end before start, a community for a view without
            communities, or a grain the view does not take.
    """
    spec = EXPORTS.get(view)
    if spec is None:
        raise ExportError(f"unknown view {view!r}; one of: {', '.join(sorted(EXPORTS))}")
    start, end = start or dt.date.min, end or dt.date.max
    if end < start:
        raise ExportError(f"--to {end} is before --from {start}")
    if community is not None and spec.community is None:
        raise ExportError(f"{view} has no community dimension; drop --community")
    if grain is not None and grain not in spec.grains:
        allowed = ", ".join(spec.grains) if spec.grains else "none"
        raise ExportError(f"{view} does not take --grain {grain!r} (allowed: {allowed})")
    sql = spec.sql
    if community is not None and spec.community == "column":
        sql = f"select * from ({sql}) where community_slug = $community"
    params = {"start": start, "end": end, "community": community, "grain": grain or "day"}
    used = {name: value for name, value in params.items() if f"${name}" in sql}
    relation = con.sql(sql, params=used)
    # CSV has no nested values: maps, structs and lists (hourly_traffic's top-N maps) are
    # written as JSON text in their cell.
    nested = [
        name
        for name, kind in zip(relation.columns, relation.types, strict=True)
        if kind.id in ("map", "struct", "list", "array")
    ]
    if nested:
        replaced = ", ".join(f'to_json("{name}") as "{name}"' for name in nested)
        relation = con.sql(f"select * replace ({replaced}) from ({sql})", params=used)
    frame = relation.pl()
    if output is None:
        sys.stdout.write(frame.write_csv())
    else:
        frame.write_csv(Path(output))
    return frame.height
