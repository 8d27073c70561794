"""Communities end to end: generated community traffic through the real ingest (Airflow
``dag.test()``), every view of docs/analysts/communities.md against the generator's ground truth.

The ground truth (demo/ground_truth.py) is computed from the raw generated records in plain
Python, never with footfall's code, so every assertion here compares two independent
implementations of the spec. Values are compared exactly: counts as integers, percentages
and averages as the rounded values the spec defines. Views without a defined row order are
compared as sets of rows.

The pipeline runs once for the session (conftest.demo_site, about 10 s, shared with the
analytics API's tests); each test then reads the snapshot it published.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from conftest import REPO

from demo import traffic
from demo.ground_truth import GroundTruth

pytestmark = pytest.mark.slow

NEWEST = dt.date(2026, 10, 31)
FIRST = NEWEST - dt.timedelta(days=44)
WEEK = NEWEST - dt.timedelta(days=6)
MONTH = NEWEST - dt.timedelta(days=29)

# Date ranges the parameterised views are checked over: everything, the last week (crosses
# the log rotation), one day, and a range that starts mid-week.
RANGES = [(FIRST, NEWEST), (WEEK, NEWEST), (NEWEST, NEWEST), (FIRST + dt.timedelta(days=10), MONTH)]
RANGE_IDS = ["all-days", "last-7", "newest-day", "mid-range"]


@pytest.fixture(scope="module")
def pipeline(demo_site):
    return demo_site


@pytest.fixture(scope="module")
def con(pipeline):
    from warehouse import snapshot

    # What analysts read: the snapshot the ingest published (its views are the warehouse's).
    connection = snapshot.connect(pipeline.data_dir)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def truth(pipeline) -> GroundTruth:
    return pipeline.truth


def normalise(value: Any) -> Any:
    """A warehouse value as the ground truth writes it: timestamps with a zone as naive UTC,
    DECIMAL as float."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def query(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [{c: normalise(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()]


def as_set(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in a canonical order, for views whose row order the spec leaves open."""
    return sorted(rows, key=lambda r: repr(sorted(r.items())))


def assert_rows(actual: list[dict], expected: list[dict]) -> None:
    assert expected, "the ground truth has no rows here: the comparison would prove nothing"
    if actual and expected:
        assert list(actual[0]) == list(expected[0]), "columns differ"
    assert as_set(actual) == as_set(expected)


# -- views --------------------------------------------------------------------------------------


def test_the_generated_traffic_was_ingested_whole(pipeline, con):
    lines = sum(1 for _ in traffic._log_lines(pipeline.input_dir))
    ((hits, quarantined),) = con.execute(
        "select (select count(*) from events), (select count(*) from quarantine)"
    ).fetchall()
    assert (hits, quarantined) == (lines, 0)


def test_community_daily(con, truth):
    assert_rows(query(con, "select * from community_daily"), truth.community_daily())


@pytest.mark.parametrize("start,end", RANGES, ids=RANGE_IDS)
@pytest.mark.parametrize("top_n", [10, 2])
def test_community_division_breakdown(con, truth, start, end, top_n):
    actual = query(con, "select * from community_division_breakdown(?, ?, top_n := ?)", [start, end, top_n])
    assert_rows(actual, truth.community_division_breakdown(start, end, top_n))


@pytest.mark.parametrize("start,end", RANGES, ids=RANGE_IDS)
def test_cross_division_flows(con, truth, start, end):
    actual = query(con, "select * from cross_division_flows(?, ?)", [start, end])
    assert_rows(actual, truth.cross_division_flows(start, end))


@pytest.mark.parametrize(
    "start,end,community,division",
    [
        (FIRST, NEWEST, None, None),
        (WEEK, NEWEST, "toronto", None),
        (WEEK, NEWEST, None, "CA-ON"),
        (MONTH, NEWEST, "canada", "CA-QC"),
        (NEWEST, NEWEST, None, "US"),
        (FIRST, NEWEST, "germany", "DE"),
        (FIRST, MONTH, "peel", "CA-ON-PEEL"),
    ],
)
def test_visitor_stats(con, truth, start, end, community, division):
    actual = query(
        con,
        "select * from visitor_stats(?, ?, community := ?, division := ?)",
        [start, end, community, division],
    )
    assert actual == truth.visitor_stats(start, end, community, division)
    assert actual[0]["visitors"] > 0


@pytest.mark.parametrize("view,days", [("visitor_stats_today", 1), ("visitor_stats_7d", 7), ("visitor_stats_30d", 30)])
def test_ready_made_visitor_stats(con, truth, view, days):
    assert query(con, f"select * from {view}") == truth.visitor_stats_last(days)


@pytest.mark.parametrize(
    "grain,start,end",
    [
        ("hour", NEWEST - dt.timedelta(days=1), NEWEST),
        ("day", FIRST, NEWEST),
        ("week", FIRST + dt.timedelta(days=3), NEWEST),
        ("month", FIRST, NEWEST),
    ],
)
def test_trends(con, truth, grain, start, end):
    actual = query(con, "select * from trends(?, ?, ?)", [grain, start, end])
    if grain != "hour":
        # A date period may come back as a midnight timestamp; the spec does not fix the type.
        for row in actual:
            if isinstance(row["period_start"], dt.datetime) and row["period_start"].time() == dt.time():
                row["period_start"] = row["period_start"].date()
    assert_rows(actual, truth.trends(grain, start, end))


def test_conversions_daily(con, truth):
    expected = truth.conversions_daily()
    assert sum(r["conversions"] for r in expected) > 0
    assert_rows(query(con, "select * from conversions_daily"), expected)


@pytest.mark.parametrize("start,end", RANGES, ids=RANGE_IDS)
def test_demographics(con, truth, start, end):
    assert_rows(query(con, "select * from demographics(?, ?)", [start, end]), truth.demographics(start, end))


@pytest.mark.parametrize("start,end", RANGES, ids=RANGE_IDS)
@pytest.mark.parametrize("top_n", [10, 2])
def test_top_countries(con, truth, start, end, top_n):
    actual = query(con, "select * from top_countries(?, ?, top_n := ?)", [start, end, top_n])
    assert_rows(actual, truth.top_countries(start, end, top_n))


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_growth(con, truth, period):
    assert_rows(query(con, "select * from growth(?)", [period]), truth.growth(period))


def test_peak_visitors_daily(con, truth):
    assert_rows(query(con, "select * from peak_visitors_daily"), truth.peak_visitors_daily())


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_peak_visitors(con, truth, grain):
    actual = query(con, "select * from peak_visitors(?)", [grain])
    for row in actual:
        if isinstance(row["period_start"], dt.datetime):
            row["period_start"] = row["period_start"].date()
    assert_rows(actual, truth.peak_visitors(grain))


def test_current_visitors(con, truth):
    assert_rows(query(con, "select * from current_visitors"), truth.current_visitors())


def test_content_views_daily(con, truth):
    assert_rows(query(con, "select * from content_views_daily"), truth.content_views_daily())


def test_content_views_summary(con, truth):
    assert_rows(query(con, "select * from content_views_summary"), truth.content_views_summary())


# -- CSV export ---------------------------------------------------------------------------------


@pytest.mark.parametrize("community", [None, "toronto"])
def test_export_community_daily_as_csv(pipeline, con, truth, tmp_path, community):
    output = tmp_path / "community_daily.csv"
    command = [sys.executable, "-m", "warehouse.cli", "export", "community_daily"]
    command += ["--from", WEEK.isoformat(), "--to", NEWEST.isoformat(), "--output", str(output)]
    if community:
        command += ["--community", community]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, **pipeline.env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    expected = [
        r
        for r in truth.community_daily()
        if WEEK <= r["day"] <= NEWEST and (community is None or r["community_slug"] == community)
    ]
    with open(output, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(expected[0])
        rows = list(reader)
    typed = [{column: from_csv(text, expected[0][column]) for column, text in row.items()} for row in rows]
    assert as_set(typed) == as_set(expected)


def from_csv(text: str, like: Any) -> Any:
    """A CSV field read back as the type of the ground truth's value ``like`` (empty: null)."""
    if text == "":
        return None
    if isinstance(like, dt.date):
        return dt.date.fromisoformat(text)
    if isinstance(like, bool):
        return text.lower() == "true"
    return type(like)(text) if like is not None else text


# -- daily summary --------------------------------------------------------------------------------


def test_the_daily_summary_carries_the_days_communities_and_flows(con, truth):
    from warehouse.reporting.reports import build_daily_summary

    summary = build_daily_summary(con, NEWEST, top_n=1000)
    expected = [{k: v for k, v in row.items() if k != "day"} for row in truth.community_daily() if row["day"] == NEWEST]
    assert_rows(summary["communities"], expected)
    assert_rows(summary["cross_division_flows"], truth.cross_division_flows(NEWEST, NEWEST))
    # Top N by visitors, the rest left out.
    top = build_daily_summary(con, NEWEST, top_n=2)["communities"]
    assert [r["visitors"] for r in top] == sorted((r["visitors"] for r in expected), reverse=True)[:2]


# -- privacy ------------------------------------------------------------------------------------


def test_no_raw_user_id_or_session_id_is_stored(pipeline, con, truth):
    import pyarrow.parquet as pq

    user_ids = {h.user_id for h in truth.human_hits if h.user_id}
    session_ids = {h.session_id for h in truth.human_hits if h.session_id}
    assert len(user_ids) > 50 and len(session_ids) > 500

    assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in session_ids)  # so a token search finds them

    def leaks(values) -> set[str]:
        texts = {v for v in values if isinstance(v, str)}
        tokens = {token for text in texts for token in re.findall(r"[0-9a-f]{32}", text)}
        return (texts & user_ids) | (tokens & session_ids)

    files = list(pipeline.data_dir.rglob("*.parquet"))
    assert files
    for path in files:
        table = pq.read_table(path)
        for column in table.column_names:
            assert not leaks(table.column(column).to_pylist()), (path, column)
    tables = [r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()]
    assert "dim_users" in tables and "visitor_daily" in tables
    for table in tables:
        cursor = con.execute(f"select * from {table}")
        for row in cursor.fetchall():
            assert not leaks(row), table


def test_make_demo_report_agrees_with_the_ground_truth_file(pipeline, con):
    """What `make demo` prints (demo/report.py) compares its views with ground_truth.json."""
    import io
    import json

    from demo.report import report

    ground_truth = json.loads((pipeline.input_dir / "ground_truth.json").read_text(encoding="utf-8"))
    out = io.StringIO()
    assert report(pipeline.data_dir, ground_truth, out=out), out.getvalue()
    assert "DIFFERENT" not in out.getvalue() and "current_visitors" in out.getvalue()


def test_export_filters_each_view_by_its_own_day_and_refuses_what_a_view_cannot_do(con, truth, tmp_path):
    from warehouse.export import ExportError, export_csv

    output = tmp_path / "hourly.csv"
    # hourly_traffic has no day column: its rows belong to the day of their hour.
    rows = export_csv(con, "hourly_traffic", NEWEST, NEWEST, output=output)
    with output.open(newline="") as f:
        exported = list(csv.DictReader(f))
    hours = [r["hour"] for r in exported]
    (in_table,) = con.execute("select count(*) from hourly_traffic where cast(hour as date) = ?", [NEWEST]).fetchone()
    assert rows == len(hours) == in_table > 12 and all(h.startswith(NEWEST.isoformat()) for h in hours)
    # Its top-N maps are JSON text in their cells.
    assert all(isinstance(json.loads(r["paths"]), dict) for r in exported)
    with pytest.raises(ExportError, match="no community dimension"):
        export_csv(con, "cross_division_flows", WEEK, NEWEST, community="toronto")
    with pytest.raises(ExportError, match="does not take --grain 'hour'"):
        export_csv(con, "peak_visitors", WEEK, NEWEST, grain="hour")
    with pytest.raises(ExportError, match="is before"):
        export_csv(con, "community_daily", NEWEST, WEEK)
