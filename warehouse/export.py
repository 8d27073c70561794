"""CSV export of the warehouse's views and tables for a date range and an optional community.

``python -m warehouse.cli export VIEW [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--community SLUG]
[--grain hour|day|week|month] [--output FILE [--force]]``; without ``--from``/``--to``, every
day. docs/analysts/communities.md, docs/analysts/metrics.md and docs/analysts/schema.md define every view and table;
:data:`EXPORTS` lists which take a range, a community or a grain.

A CSV file is opened by people in spreadsheets, and its cells hold text that anyone on the
internet can write into a log (a request path, a referrer): every writer of CSV passes its rows
through :func:`neutralise_formulas` first. The file itself is never written over the warehouse
or the secrets (:func:`check_output`).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from transforms.models import catalogue
from warehouse.retention import ROLLUPS


class ExportError(ValueError):
    """An export request the view cannot answer (unknown view, community or grain not supported),
    or an output file it must not write."""


# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"): = + - @, and tab
# and carriage return, which some spreadsheets skip before reading the next character.
_FORMULA_START = r"^[=+\-@\t\r]"
# A cell that is a plain number is read as that number, not as a formula: left alone.
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula made inert.

    Follows OWASP's "CSV Injection" advice (https://owasp.org/www-community/attacks/CSV_Injection):
    a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'``, which spreadsheets (Excel, LibreOffice, Google Sheets) take as "this is text" and do
    not display. Numeric columns are not touched, nor are text cells that are plain numbers
    (``-3``, ``+1.5e3``): numbers stay numbers. Quoting of commas, quotes and newlines is the
    CSV writer's job (polars ``write_csv`` quotes as RFC 4180 says).

    Args:
        frame: the rows to be written as CSV; String columns are checked, column-wise.

    Returns:
        A frame of the same shape and types.
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START) & ~pl.col(c).str.contains(_PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def check_output(output: Path, keep_out_of: Iterable[Path] = (), *, force: bool = False) -> Path:
    """The file ``--output`` names, resolved, once it is safe to write.

    Args:
        output: the path given; symlinks are followed (a link into the data dir is refused like
            the data dir itself).
        keep_out_of: directories the file may not be in (the data dir, the secrets dir).
        force: replace an existing file (``--force``).

    Returns:
        The resolved path.

    Raises:
        ExportError: the path is inside one of ``keep_out_of``, is a directory, or exists
            without ``force``.
    """
    target = Path(output).expanduser().resolve()
    for directory in keep_out_of:
        directory = Path(directory).resolve()
        if target == directory or directory in target.parents:
            raise ExportError(
                f"--output {output} is inside {directory} (the warehouse's data or its secrets): "
                "write the CSV somewhere else"
            )
    if target.is_dir():
        raise ExportError(f"--output {output} is a directory; give a file name")
    if target.exists() and not force:
        raise ExportError(f"--output {output} exists; add --force to replace it")
    return target


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
    # hourly_traffic's rows belong to the day of their hour (catalogue.aggregate_day); the rest have ``day``.
    day = catalogue.aggregate_day(table)
    return Export(f"select * from {table} where {day} between $start and $end", "column" if community else None)


def _monthly(table: str) -> Export:
    # A month is in the range when any of its days is.
    return Export(f"select * from {table} where month between date_trunc('month', cast($start as date)) and $end")


_RANGE = "$start, $end"
# Aggregate tables with a row per community: exported for one community (--community) or all.
_COMMUNITY_TABLES = ("peak_visitors_daily",)
EXPORTS: dict[str, Export] = {
    # docs/analysts/communities.md
    "community_daily": _daily("community_daily", community=True),
    "community_division_breakdown": Export(f"select * from community_division_breakdown({_RANGE})", "column"),
    "cross_division_flows": Export(f"select * from cross_division_flows({_RANGE})"),
    "visitor_stats": Export(f"select * from visitor_stats({_RANGE}, community := $community)", "param"),
    "trends": Export(f"select * from trends($grain, {_RANGE})", None, ("hour", "day", "week", "month")),
    "demographics": Export(f"select * from demographics({_RANGE})"),
    "top_countries": Export(f"select * from top_countries({_RANGE})"),
    **{name: _daily(name, community=True) for name in _COMMUNITY_TABLES},
    "peak_visitors": Export(
        "select * from peak_visitors($grain) where period_start between date_trunc($grain, cast($start as date)) "
        "and $end",
        "column",
        ("day", "week", "month"),
    ),
    "current_visitors": Export("select * from current_visitors", "column"),
    "content_views_daily": _daily("content_views_daily"),
    "content_views_summary": _daily("content_views_summary"),
    # The aggregate tables the catalogue marks as exported (docs/analysts/metrics.md).
    **{m.name: _daily(m.name) for m in catalogue.MODELS if m.export and m.name not in _COMMUNITY_TABLES},
    "goaccess_daily": Export("select * from goaccess_daily where day_as_logged between $start and $end"),
    # Monthly rollups (docs/operators/operations.md#rollups): days whose daily rows retention deleted.
    **{rollup.monthly: _monthly(rollup.monthly) for rollup in ROLLUPS},
    # Raw data and its quality (docs/analysts/schema.md), by UTC date.
    "events": Export("select * from events where event_date between $start and $end"),
    "quarantine": Export("select * from quarantine where ingest_date between $start and $end"),
    "rejected_lines": Export("select * from rejected_lines where ingest_date between $start and $end"),
    "data_quality": Export("select * from data_quality where cast(committed_at as date) between $start and $end"),
    # Views without a date range.
    "visitor_stats_today": Export("select * from visitor_stats_today"),
    "visitor_stats_7d": Export("select * from visitor_stats_7d"),
    "visitor_stats_30d": Export("select * from visitor_stats_30d"),
    "growth": Export("select * from growth($grain, stable_pct := $stable_pct)", None, ("day", "week", "month")),
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
    force: bool = False,
    keep_out_of: Iterable[Path] = (),
    stable_pct: float = 5.0,
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
            maps as JSON text; text cells through :func:`neutralise_formulas`); ``None``
            writes to stdout.
        force, keep_out_of: as :func:`check_output`; an existing ``output`` is never replaced
            without ``force``, even one created while the query ran.
        stable_pct: FOOTFALL_GROWTH_STABLE_PCT, bound into ``growth``: a change within this
            many percent is "stable".

    Returns:
        The number of data rows written.

    Raises:
        ExportError: unknown view, end before start, a community for a view without
            communities, a grain the view does not take, or an output :func:`check_output` refuses.
    """
    target = None if output is None else check_output(output, keep_out_of, force=force)
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
    params = {"start": start, "end": end, "community": community, "grain": grain or "day", "stable_pct": stable_pct}
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
    frame = neutralise_formulas(relation.pl())
    if target is None:
        sys.stdout.write(frame.write_csv())
        return frame.height
    try:
        with open(target, "wb" if force else "xb") as f:
            frame.write_csv(f)
    except FileExistsError:
        raise ExportError(f"--output {output} exists; add --force to replace it") from None
    return frame.height
