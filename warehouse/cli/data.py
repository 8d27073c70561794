"""``query`` and ``export``: the warehouse's rows for analysts, read-only."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import sys
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from warehouse.cli.app import app, load_settings, read_only_connection
from warehouse.errors import CommandError, sql_error
from warehouse.export import EXPORTS, check_output, neutralise_formulas


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def write_result(relation: duckdb.DuckDBPyRelation, fmt: Format, output: Path | None) -> int:
    """Write a query's rows as ``fmt`` to ``output`` (standard output when ``None``); returns the rows.

    ``table`` is DuckDB's box drawing (at most 200 rows and 200 characters wide); ``csv`` has a
    header row and its text cells pass through :func:`warehouse.export.neutralise_formulas`, as
    every CSV footfall writes; ``json`` is an array of objects (dates and times as ISO-8601
    text); ``parquet`` needs ``--output``. ``output`` has passed
    :func:`warehouse.export.check_output`.

    Raises:
        CommandError: Parquet to standard output.
    """
    if fmt is Format.table:
        target = open(output, "w", encoding="utf-8") if output else contextlib.nullcontext(sys.stdout)
        with target as out, contextlib.redirect_stdout(out):
            relation.show(max_width=200, max_rows=200)
        return len(relation)
    if fmt is Format.parquet and output is None:
        raise CommandError("--format parquet needs --output FILE (Parquet is binary)", 2)
    frame = relation.pl()
    if fmt is Format.parquet:
        frame.write_parquet(output)
    else:
        text = neutralise_formulas(frame).write_csv() if fmt is Format.csv else frame.write_json() + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            Path(output).write_text(text, encoding="utf-8")
    return frame.height


@app.command("query", short_help="one SQL statement, read-only; table, CSV, JSON, Parquet")
def query_command(
    sql: Annotated[str, typer.Argument(help='One SQL statement (DuckDB dialect), e.g. "select * from daily_traffic"')],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="How the rows are written")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: standard output)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --output file if it exists")] = False,
) -> int:
    """Run one SQL statement on the warehouse, read-only, and write its rows as a table, CSV, JSON or Parquet.

    Tables and views are listed in docs/analysts/querying.md and docs/analysts/schema.md.
    A statement DuckDB refuses is reported in one line. --output never replaces a file without
    --force, and never writes inside the data dir or the secrets dir.
    """
    settings = load_settings()
    if output is not None:
        output = check_output(output, (settings.data_dir, settings.secrets_dir), force=force)
    con = read_only_connection(settings)
    try:
        try:
            relation = con.sql(sql)
        except duckdb.Error as exc:
            raise CommandError(f"SQL error: {sql_error(exc)}") from None
        if relation is None:  # a statement without rows (a read-only connection allows few)
            return 0
        try:
            rows = write_result(relation, fmt, output)
        except duckdb.Error as exc:
            raise CommandError(f"SQL error: {sql_error(exc)}") from None
    finally:
        con.close()
    if output is not None:
        print(f"{rows:,} row(s) written to {output}", file=sys.stderr)
    return 0


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; give YYYY-MM-DD", param_hint=option) from None


@app.command("export", short_help="a view or table as CSV, every day or a range")
def export_command(
    view: Annotated[str, typer.Argument(help="The view or table: " + ", ".join(sorted(EXPORTS)))],
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: the first)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: the last)")] = None,
    community: Annotated[str | None, typer.Option(help="Only this community_slug (views with communities)")] = None,
    grain: Annotated[str | None, typer.Option(help="hour, day, week or month (trends, peak_visitors, growth)")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV file to write (default: standard output)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --output file if it exists")] = False,
) -> int:
    """Write one view or table of the warehouse as CSV, for a date range (default: every day).

    Every daily table and view analysts read, the monthly rollups (*_monthly), the community
    views (docs/analysts/communities.md), goaccess_daily, data_quality and the raw events and quarantine.
    Text cells a spreadsheet would run as formulas get a leading '. --output never replaces a
    file without --force, and never writes inside the data dir or the secrets dir.
    """
    from warehouse.export import ExportError, export_csv

    first, last = _date(start, "--from"), _date(end, "--to")
    if view not in EXPORTS:
        raise ExportError(f"unknown view {view!r}; one of: {', '.join(sorted(EXPORTS))}")
    settings = load_settings()
    con = read_only_connection(settings)
    try:
        rows = export_csv(
            con, view, first, last, community=community, grain=grain, output=output, force=force,
            keep_out_of=(settings.data_dir, settings.secrets_dir), stable_pct=settings.growth_stable_pct,
        )  # fmt: skip
    finally:
        con.close()
    if output is not None:
        print(f"{rows} row(s) of {view} written to {output}", file=sys.stderr)
    return 0
