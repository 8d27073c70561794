"""Ingestion state on real files: appended lines, rotated and gzipped copies, truncation, bad bytes."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time

import duckdb
import pytest
from conftest import shared_log

from parsers.variables import LogFormatError
from warehouse import ingest
from warehouse.settings import ConfigError, Settings


def ingest_once(run_id: str) -> dict:
    """One ingest pass (discover, parse, commit, aggregate) as the DAG runs it."""
    settings = Settings.from_env()
    plans = ingest.discover(settings)
    results = [ingest.parse_source(settings, p, run_id, dt.date(2026, 11, 21)) for p in plans]
    committed = ingest.commit(settings, results, run_id, dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
    ingest.aggregate(settings, committed["days"])
    return committed


def totals(data_dir) -> tuple[int, int, int]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        (hits,) = con.execute("select coalesce(sum(hits), 0) from daily_traffic").fetchone()
        (events,) = con.execute("select count(*) from events").fetchone()
        (distinct_lines,) = con.execute("select count(distinct (source_id, line_number)) from events").fetchone()
    finally:
        con.close()
    return hits, events, distinct_lines


@pytest.fixture
def nginx_lines() -> list[bytes]:
    return shared_log("nginx_logs").read_bytes().splitlines(keepends=True)[:3000]


def test_appended_lines_are_read_once(footfall_env, tmp_path, nginx_lines):
    log = tmp_path / "access.log"
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    log.write_bytes(b"".join(nginx_lines[:1000]))
    first = ingest_once("run-1")
    assert (first["lines_read"], first["lines_parsed"]) == (1000, 1000)

    with open(log, "ab") as f:
        f.write(b"".join(nginx_lines[1000:]))
    second = ingest_once("run-2")
    assert second["lines_read"] == 2000

    third = ingest_once("run-3")
    assert (third["sources"], third["lines_read"], third["days"]) == (0, 0, [])
    assert totals(data_dir) == (3000, 3000, 3000)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    offsets = con.execute("select start_offset, end_offset from data_quality order by start_offset").fetchall()
    size = log.stat().st_size
    assert offsets == [(0, len(b"".join(nginx_lines[:1000]))), (len(b"".join(nginx_lines[:1000])), size)]
    assert con.execute("select count(*) from ingest_runs").fetchone() == (3,)


def test_rotated_and_gzipped_copies_are_not_read_again(footfall_env, tmp_path, nginx_lines):
    logs = tmp_path / "logs"
    logs.mkdir()
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "access.log*"))
    (logs / "access.log").write_bytes(b"".join(nginx_lines[:2000]))
    ingest_once("run-1")

    # logrotate: access.log -> access.log.1 (then compressed), a new access.log begins.
    (logs / "access.log").rename(logs / "access.log.1")
    (logs / "access.log.1.gz").write_bytes(gzip.compress((logs / "access.log.1").read_bytes()))
    (logs / "access.log.1").unlink()
    (logs / "access.log").write_bytes(b"".join(nginx_lines[2000:]))
    second = ingest_once("run-2")

    assert second["lines_read"] == 1000
    assert totals(data_dir) == (3000, 3000, 3000)
    assert ingest_once("run-3")["lines_read"] == 0


def test_truncated_file_is_read_again_from_the_start(footfall_env, tmp_path, nginx_lines):
    log = tmp_path / "access.log"
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    log.write_bytes(b"".join(nginx_lines[:2000]))
    ingest_once("run-1")
    # copytruncate-style: same first lines, now shorter than what was committed.
    log.write_bytes(b"".join(nginx_lines[:500]))
    ingest_once("run-2")
    assert totals(data_dir) == (500, 500, 500)
    parquet = sorted(p.name for p in (data_dir / "events").rglob("*.parquet"))
    # Only the second read's files remain: the first read's were deleted after the commit.
    assert parquet and all("-000000000000000-" in name for name in parquet)
    assert len(parquet) == len({p.parent for p in (data_dir / "events").rglob("*.parquet")})


def test_bad_bytes_and_broken_lines_are_kept_not_lost(footfall_env, tmp_path, nginx_lines):
    log = tmp_path / "access.log"
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    invalid_utf8 = nginx_lines[0].replace(b"Debian APT", b"Debian \xff\xfe APT")
    log.write_bytes(
        nginx_lines[0]
        + invalid_utf8
        + b"\n"
        + b"\x00\x01binary junk\n"
        + nginx_lines[1].rstrip(b"\n")  # no final newline
    )
    idle = time.time() - 600  # the writer has been done with the file for 10 minutes
    os.utime(log, (idle, idle))
    committed = ingest_once("run-1")
    assert (committed["lines_read"], committed["lines_parsed"], committed["lines_quarantined"]) == (5, 3, 2)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    assert con.execute("select user_agent from events where line_number = 2").fetchone() == (
        "Debian \\xff\\xfe APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)",
    )
    assert sorted(con.execute("select line_number, reason from quarantine").fetchall()) == [
        (3, "empty_line"),
        (4, "format_mismatch"),
    ]
    assert con.execute("select quarantine_reasons from data_quality").fetchone() == (
        {"empty_line": 1, "format_mismatch": 1},
    )


def test_empty_and_missing_files_are_not_an_error(footfall_env, tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    footfall_env(FOOTFALL_LOG_GLOB=f"{tmp_path}/empty.log:{tmp_path}/missing-*.log")
    assert ingest_once("run-1")["sources"] == 0


@pytest.mark.parametrize(
    ("env", "error", "message"),
    [
        ({"FOOTFALL_LOG_FORMAT": "$remote_adr [$time_local] $status"}, LogFormatError, "Did you mean $remote_addr"),
        ({"FOOTFALL_CHUNK_BYTES": "lots"}, ConfigError, "FOOTFALL_CHUNK_BYTES='lots' is not a whole number"),
        ({"VISIT_TRACKING_INTERVAL": "-5"}, ConfigError, "VISIT_TRACKING_INTERVAL='-5' must be greater than 0"),
        ({"VISIT_TRACKING_ENABLED": "maybe"}, ConfigError, "VISIT_TRACKING_ENABLED='maybe' is not a boolean"),
    ],
)
def test_misconfiguration_fails_fast_with_what_to_fix(env, error, message):
    with pytest.raises(error, match=message.replace("$", r"\$").replace("(", r"\(")):
        Settings.from_env(env)


def test_secrets_inside_the_data_dir_are_refused(tmp_path):
    env = {"FOOTFALL_DATA_DIR": str(tmp_path), "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets")}
    with pytest.raises(ConfigError, match="keep salts and keys out of the data dir"):
        Settings.from_env(env)


@pytest.mark.parametrize("url", [None, "reports.example.org/api", "ftp://reports.example.org/api"])
def test_reporting_enabled_without_an_http_url_is_refused(url):
    env = {"VISIT_TRACKING_ENABLED": "true", **({"VISIT_TRACKING_API": url} if url else {})}
    settings = Settings.from_env(env)  # ingestion does not depend on reporting settings
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL; set it to the reporting endpoint"):
        settings.check_reporting()


def test_cli_check_names_what_to_fix(monkeypatch, capsys, tmp_path):
    from warehouse.cli import main

    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GEOIP_DATABASE", str(shared_log("apache_logs")))  # a file, but not an .mmdb
    assert main(["check"]) == 2
    assert "GEOIP_DATABASE=" in capsys.readouterr().err
    monkeypatch.delenv("GEOIP_DATABASE")
    assert main(["check"]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_a_line_still_being_written_is_left_for_the_next_run(footfall_env, tmp_path, nginx_lines):
    log = tmp_path / "access.log"
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    half = len(nginx_lines[2]) // 2
    log.write_bytes(nginx_lines[0] + nginx_lines[1] + nginx_lines[2][:half])  # writer busy: mtime now
    assert ingest_once("run-1")["lines_read"] == 2
    with open(log, "ab") as f:
        f.write(nginx_lines[2][half:])
    second = ingest_once("run-2")
    assert (second["lines_read"], second["lines_parsed"]) == (1, 1)
    assert totals(data_dir) == (3, 3, 3)


def test_a_small_file_is_recognised_after_it_grew_and_was_rotated(footfall_env, tmp_path, nginx_lines):
    """First read under 1 KiB, grown past it, then rotated: its fingerprint grew with it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "access.log*"))
    (logs / "access.log").write_bytes(b"".join(nginx_lines[:3]))
    assert len(b"".join(nginx_lines[:3])) < 1024
    ingest_once("run-1")
    with open(logs / "access.log", "ab") as f:
        f.write(b"".join(nginx_lines[3:30]))
    ingest_once("run-2")
    (logs / "access.log").rename(logs / "access.log.1")
    (logs / "access.log").write_bytes(nginx_lines[30])
    third = ingest_once("run-3")
    assert third["lines_read"] == 1
    assert totals(data_dir) == (31, 31, 31)


def test_reingesting_a_file_on_purpose_replaces_it_without_double_counting(footfall_env, tmp_path, nginx_lines):
    from warehouse.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"))
    (logs / "access.log.1.gz").write_bytes(gzip.compress(b"".join(nginx_lines[:2000])))
    ingest_once("run-1")
    assert ingest_once("run-2")["lines_read"] == 0  # nothing new
    before = sorted(p.name for p in (data_dir / "events").rglob("*.parquet"))

    assert main(["reingest", str(logs / "access.log.1.gz")]) == 0
    again = ingest_once("run-3")

    assert again["lines_read"] == 2000
    assert totals(data_dir) == (2000, 2000, 2000)
    after = sorted(p.name for p in (data_dir / "events").rglob("*.parquet"))
    assert after and set(after).isdisjoint(before)  # the first read's files were replaced
    assert main(["reingest", str(shared_log("apache_logs"))]) == 1  # never ingested here


def test_rebuild_regroups_past_days_after_a_time_zone_change(footfall_env, monkeypatch):
    from warehouse.cli import main

    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    ingest_once("run-1")
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    utc = dict(con.execute("select day, hits from daily_traffic").fetchall())
    con.close()
    monkeypatch.setenv("FOOTFALL_TIMEZONE", "Asia/Tokyo")  # +09:00: every UTC day shifts
    assert main(["rebuild"]) == 0
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    tokyo = dict(con.execute("select day, hits from daily_traffic").fetchall())
    expected = dict(
        con.execute("select cast(ts + interval 9 hour as date), count(*) from events group by all").fetchall()
    )
    con.close()
    assert tokyo == expected and tokyo != utc and sum(tokyo.values()) == sum(utc.values()) == 10_000
