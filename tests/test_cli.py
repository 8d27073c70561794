"""The command line (``python -m warehouse.cli``): help for every command, one-line errors, query formats.

Query results written as CSV, JSON and Parquet are compared with the same rows read from the
warehouse with DuckDB directly.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import REPO, shared_log
from test_ingest_map import ingest_once

from warehouse.cli import app, main

COMMANDS = {
    "check",
    "summary",
    "query",
    "export",
    "last-interval-end",
    "reingest",
    "rebuild",
    "publish",
    "retention",
    "outbox",
}
OUTBOX = {"list", "show", "retry", "discard", "deliver"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_describes_every_command(capsys):
    import typer.main

    group = typer.main.get_command(app)
    assert set(group.commands) == COMMANDS
    assert set(group.commands["outbox"].commands) == OUTBOX
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in COMMANDS:
        code, text, _ = run(capsys, *name.split(), "--help")
        assert code == 0 and f"Usage: python -m warehouse.cli {name}" in text
        described = text.split("\n\n")[1].strip()
        assert len(described) > 30, (name, described)
    for name in OUTBOX:
        code, text, _ = run(capsys, "outbox", name, "--help")
        assert code == 0 and len(text.split("\n\n")[1].strip()) > 20


@pytest.fixture
def warehouse(footfall_env, tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(shared_log("apache_logs").read_bytes())
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    ingest_once("run-1")
    return data_dir


def direct(data_dir, sql: str) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        cur = con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


SQL = "select day, hits, page_views, visitors, bytes, bounce_rate from daily_traffic order by day"


@pytest.mark.real_logs
def test_query_writes_csv_json_and_parquet(warehouse, tmp_path, capsys):
    columns, rows = direct(warehouse, SQL)
    assert len(rows) == 4

    code, _, err = run(capsys, "query", SQL, "--format", "csv", "--output", str(tmp_path / "q.csv"))
    assert code == 0 and err == f"4 row(s) written to {tmp_path / 'q.csv'}\n"
    with open(tmp_path / "q.csv", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == columns
        got = [(dt.date.fromisoformat(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), float(r[5])) for r in reader]
    assert got == rows

    code, out, _ = run(capsys, "query", SQL, "--format", "json")
    assert code == 0
    assert [tuple(r.values()) for r in json.loads(out)] == [(d.isoformat(), *rest) for d, *rest in rows]

    code, _, _ = run(capsys, "query", SQL, "-f", "parquet", "-o", str(tmp_path / "q.parquet"))
    table = pq.read_table(tmp_path / "q.parquet")
    assert code == 0 and table.column_names == columns
    assert [tuple(r.values()) for r in table.to_pylist()] == rows

    code, out, _ = run(capsys, "query", "select count(*) as n from events")
    assert code == 0 and "10000" in out and "│" in out  # DuckDB's table


@pytest.mark.real_logs
def test_parquet_needs_an_output_file(warehouse, capsys):
    assert run(capsys, "query", SQL, "--format", "parquet") == (
        2,
        "",
        "--format parquet needs --output FILE (Parquet is binary)\n",
    )


@pytest.mark.real_logs
def test_export_defaults_to_every_day(warehouse, tmp_path, capsys):
    _, rows = direct(warehouse, "select day, hits from daily_traffic order by day")
    code, _, err = run(capsys, "export", "daily_traffic", "--output", str(tmp_path / "d.csv"))
    assert code == 0 and err == f"4 row(s) of daily_traffic written to {tmp_path / 'd.csv'}\n"
    with open(tmp_path / "d.csv", newline="") as f:
        got = [(dt.date.fromisoformat(r["day"]), int(r["hits"])) for r in csv.DictReader(f)]
    assert got == rows
    code, out, _ = run(capsys, "export", "daily_traffic", "--from", "2015-05-19")
    assert code == 0 and len(out.splitlines()) == 1 + 2  # header, 19 and 20 May


@pytest.mark.real_logs
@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (("query", "selec 1"), 'SQL error: Parser Error: syntax error at or near "selec"', 1),
        (
            ("query", "select * from daily_trafic"),
            'SQL error: Catalog Error: Table with name daily_trafic does not exist! Did you mean "daily_traffic"?',
            1,
        ),
        (("export", "daily_trafic"), "unknown view 'daily_trafic'; one of: ", 2),
        (
            ("export", "daily_traffic", "--community", "x"),
            "daily_traffic has no community dimension; drop --community",
            2,
        ),
        (("outbox", "show", "visits-nope"), "no report 'visits-nope' in the outbox", 1),
    ],
)
def test_mistakes_are_one_line_each(warehouse, capsys, argv, message, code):
    got, out, err = run(capsys, *argv)
    assert got == code and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message), err


def test_a_missing_warehouse_and_a_bad_setting_are_one_line(footfall_env, capsys, monkeypatch):
    data_dir = footfall_env()
    code, out, err = run(capsys, "summary")
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith(f"no snapshot at {data_dir / 'analytics.duckdb'}: ")
    code, out, err = run(capsys, "outbox", "list")
    assert (code, out) == (1, "")
    assert err == f"no warehouse at {data_dir / 'warehouse.duckdb'}: run the ingest DAG first\n"
    monkeypatch.setenv("FOOTFALL_TIMEZONE", "Mars/Olympus")
    code, out, err = run(capsys, "query", "select 1")
    assert (code, out) == (2, "")
    assert (
        err
        == "configuration error: FOOTFALL_TIMEZONE='Mars/Olympus' is not an IANA time zone name (e.g. Europe/Paris)\n"
    )


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.real_logs
def test_a_locked_warehouse_is_one_line_naming_the_holder(warehouse, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        # The commands that need the warehouse itself (writing, or the bookkeeping no snapshot holds).
        for argv in (("rebuild",), ("outbox", "list"), ("retention", "--dry-run")):
            code, out, err = run(capsys, *argv)
            assert (code, out) == (1, ""), argv
            assert err == (
                f"the warehouse {warehouse / 'warehouse.duckdb'} is in use by another process (PID {holder.pid}, "
                f"{err.split(', ', 1)[1].split(')')[0]}): DuckDB allows one writer, and no reader beside it; try again "
                "when it has finished (an Airflow task holds it while it runs)\n"
            ), err
        # The read commands read the published snapshot (cli.app.read_only_connection): a running
        # task does not block them.
        for argv in (("summary",), ("query", "select count(*) from daily_traffic"), ("export", "daily_traffic"),
                     ("last-interval-end",)):  # fmt: skip
            assert run(capsys, *argv)[0] == 0, argv
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
@pytest.mark.real_logs
def test_the_command_line_prints_no_traceback(warehouse):
    done = subprocess.run(
        [sys.executable, "-m", "warehouse.cli", "query", "selec 1"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr == 'SQL error: Parser Error: syntax error at or near "selec"\n'


@pytest.mark.real_logs
def test_summary_never_shows_lines_parsed_beside_zero_hits_without_the_reason(footfall_env, tmp_path, capsys):
    from warehouse import ingest
    from warehouse.settings import Settings

    log = tmp_path / "access.log"
    log.write_bytes(b"".join(shared_log("apache_logs").read_bytes().splitlines(keepends=True)[:500]))
    footfall_env(FOOTFALL_LOG_GLOB=str(log))
    settings = Settings.from_env()
    units = ingest.discover(settings)
    ingest.commit(settings, [ingest.parse_source(settings, u, "run-1", dt.date(2026, 11, 21)) for u in units], "run-1")
    # Committed and published, not aggregated: as a run killed between its commit and its rebuild
    # leaves it, once something publishes.
    assert main(["publish"]) == 0
    code, out, _ = run(capsys, "summary")
    assert code == 0 and "lines parsed:        500\n" in out
    assert "hits:                0 (why: the aggregates of these lines are not built yet:" in out
    assert main(["rebuild"]) == 0  # rebuilds and publishes
    code, out, _ = run(capsys, "summary")
    assert "hits:                500\n" in out


@pytest.mark.real_logs
def test_query_output_is_as_safe_as_export_output(warehouse, tmp_path, capsys):
    """query --output follows export's rules: no silent overwrite, nothing into the data dir, and
    CSV cells a spreadsheet would run are made inert."""
    output = tmp_path / "q.csv"
    output.write_text("someone's work\n")
    code, _, err = run(capsys, "query", "select '=1+1' as cell", "--format", "csv", "--output", str(output))
    assert code == 2 and "exists; add --force" in err and output.read_text() == "someone's work\n"
    assert run(capsys, "query", "select '=1+1' as cell", "-f", "csv", "-o", str(output), "--force")[0] == 0
    assert output.read_text() == "cell\n'=1+1\n"
    code, _, err = run(capsys, "query", "select 1", "-f", "json", "-o", str(warehouse / "x.json"))
    assert code == 2 and "inside" in err and not (warehouse / "x.json").exists()
