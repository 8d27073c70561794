"""CSV export is safe: cells a spreadsheet would run as formulas are made inert (OWASP "CSV
Injection"), and ``--output`` never replaces a file unasked nor writes into the warehouse's data
or secrets."""

from __future__ import annotations

import csv
import datetime as dt
import io

import duckdb
import polars as pl
import pytest
from conftest import shared_log

from warehouse import ingest
from warehouse.cli import main as cli
from warehouse.settings import Settings

# Paths as an attacker requests them (quotes escaped as Apache logs them), and what a
# spreadsheet must be shown: a leading ' makes a cell text.
HOSTILE_PATHS = {
    '=HYPERLINK(\\"http://evil.example/\\",\\"click\\")': '\'=HYPERLINK("http://evil.example/","click")',
    "+cmd|'/C%20calc'!A0": "'+cmd|'/C%20calc'!A0",
    "-2+3+cmd|'/C%20calc'!A0": "'-2+3+cmd|'/C%20calc'!A0",
    "@SUM(1+1)*cmd|'/C%20calc'!A0": "'@SUM(1+1)*cmd|'/C%20calc'!A0",
    "-5": "-5",  # a plain number stays a number
    "/about": "/about",
}


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def hostile_log(path) -> None:
    lines = [
        f'192.0.2.{i} - - [19/May/2015:14:0{i}:00 +0000] "GET {target} HTTP/1.1" 200 5 "-" "{BROWSER}"\n'
        for i, target in enumerate(HOSTILE_PATHS)
    ]
    path.write_text("".join(lines))


@pytest.fixture
def warehouse(footfall_env, tmp_path):
    """A warehouse with the hostile paths' page views; returns its data dir."""
    log = tmp_path / "access.log"
    hostile_log(log)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    settings = Settings.from_env()
    results = [ingest.parse_source(settings, u, "run-1", dt.date(2026, 11, 21)) for u in ingest.discover(settings)]
    ingest.aggregate(settings, ingest.commit(settings, results, "run-1", None)["days"])
    return data_dir


def export(*args: str) -> int:
    return cli(["export", "page_daily", "--from", "2015-05-19", "--to", "2015-05-19", *args])


def test_cells_a_spreadsheet_would_run_are_neutralised_and_numbers_stay_numbers(warehouse, tmp_path):
    output = tmp_path / "pages.csv"
    assert export("--output", str(output)) == 0
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert sorted(r["path"] for r in rows) == sorted(HOSTILE_PATHS.values())
    for row in rows:
        assert row["page_views"] == "1" and row["visitors"] == "1"  # numbers unquoted, unprefixed
        assert row["day"] == "2015-05-19"


def test_standard_output_is_neutralised_too(warehouse, capsys):
    assert export() == 0
    paths = [r["path"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert sorted(paths) == sorted(HOSTILE_PATHS.values())


def test_the_neutralisation_leaves_numeric_columns_and_plain_numbers_alone():
    from warehouse.export import neutralise_formulas

    frame = pl.DataFrame(
        {
            "text": ["=1+1", "+1", "-1", "@a", "\tx", "\rx", "1e5", "-.5", "a=b", "", None],
            "int": [-1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11],
            "float": [-1.5, 0.0, 1.5, -2.0, 1e9, -1e-9, 0.1, 2.0, 3.0, 4.0, None],
        }
    )
    out = neutralise_formulas(frame)
    assert out.schema == frame.schema
    assert out.get_column("text").to_list() == [
        "'=1+1",
        "+1",
        "-1",
        "'@a",
        "'\tx",
        "'\rx",
        "1e5",
        "-.5",
        "a=b",
        "",
        None,
    ]
    assert out.drop("text").equals(frame.drop("text"))


def test_output_never_replaces_a_file_unless_forced(warehouse, tmp_path, capsys):
    output = tmp_path / "pages.csv"
    output.write_text("someone's work\n")
    assert export("--output", str(output)) == 2
    assert output.read_text() == "someone's work\n"
    assert "exists; add --force" in capsys.readouterr().err
    assert export("--output", str(output), "--force") == 0
    assert output.read_text().startswith("day,path,")


def test_output_never_goes_into_the_data_dir_or_the_secrets_dir(warehouse, tmp_path, capsys, monkeypatch):
    secrets_dir = tmp_path / "secrets"
    key = secrets_dir / "hash.key"
    key.write_bytes(b"k" * 32)
    database = warehouse / "warehouse.duckdb"
    before = database.read_bytes()
    link = tmp_path / "innocent.csv"
    link.symlink_to(database)
    monkeypatch.chdir(warehouse / "events")
    for target in (database, warehouse / "new.csv", key, secrets_dir / "new.csv", link, "../pages.csv"):
        assert export("--output", str(target), "--force") == 2, target
        assert "inside" in capsys.readouterr().err
    assert database.read_bytes() == before
    assert key.read_bytes() == b"k" * 32
    assert not (warehouse / "new.csv").exists() and not (warehouse / "pages.csv").exists()
    con = duckdb.connect(str(database), read_only=True)
    assert con.execute("select count(*) from page_daily").fetchone() == (len(HOSTILE_PATHS),)
    con.close()


@pytest.mark.real_logs
def test_a_real_log_exports_unchanged_where_nothing_looks_like_a_formula(footfall_env, tmp_path):
    """Real paths never start with = + - @: the export of a real log is the table, cell for cell."""
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    settings = Settings.from_env()
    results = [ingest.parse_source(settings, u, "run-1", dt.date(2026, 11, 21)) for u in ingest.discover(settings)]
    ingest.aggregate(settings, ingest.commit(settings, results, "run-1", None)["days"])
    output = tmp_path / "pages.csv"
    assert cli(["export", "page_daily", "--from", "2015-05-17", "--to", "2015-05-20", "--output", str(output)]) == 0
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    table = con.execute("select day, path, page_views, visitors from page_daily").fetchall()
    con.close()
    exported = [
        (dt.date.fromisoformat(r["day"]), r["path"], int(r["page_views"]), int(r["visitors"]))
        for r in csv.DictReader(io.StringIO(output.read_text()))
    ]
    assert sorted(exported) == sorted(table) and len(table) > 400
