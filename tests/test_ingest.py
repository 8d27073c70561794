"""Ingestion state on real files: appended lines, rotated and gzipped copies, truncation, bad bytes."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import shared_log

from parsers.variables import LogFormatError
from warehouse import ingest, storage
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


@pytest.mark.real_logs
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


@pytest.mark.real_logs
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


@pytest.mark.real_logs
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


@pytest.mark.real_logs
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


@pytest.mark.real_logs
def test_cli_check_names_what_to_fix(monkeypatch, capsys, tmp_path):
    from warehouse.cli import main

    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GEOIP_DATABASE", str(shared_log("apache_logs")))  # a file, but not an .mmdb
    assert main(["check"]) == 2
    assert "GEOIP_DATABASE=" in capsys.readouterr().err
    monkeypatch.delenv("GEOIP_DATABASE")
    assert main(["check"]) == 0
    assert "configuration OK" in capsys.readouterr().out


@pytest.mark.real_logs
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


@pytest.mark.real_logs
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


@pytest.mark.real_logs
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


@pytest.mark.real_logs
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


# -- FOOTFALL_MAX_REJECT_RATE: a wrong log format fails the run after keeping the evidence ----

# The JSON template of nginx_json_logs: a valid format, but not the one nginx_logs is written in.
JSON_TEMPLATE = (
    '{"time": "$time_local", "remote_ip": "$remote_addr", "remote_user": "$remote_user", '
    '"request": "$request", "response": $status, "bytes": $body_bytes_sent, '
    '"referrer": "$http_referer", "agent": "$http_user_agent"}'
)


def warehouse_rows(data_dir, sql: str) -> list[tuple]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.real_logs
def test_a_wrong_log_format_is_rejected_after_its_lines_are_quarantined(footfall_env, tmp_path, nginx_lines):
    log = tmp_path / "access.log"
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    first = b"".join(nginx_lines[:1000])
    log.write_bytes(first)
    ingest_once("run-1")
    with open(log, "ab") as f:
        f.write(b"".join(nginx_lines[1000:]))

    footfall_env(FOOTFALL_LOG_FORMAT=JSON_TEMPLATE)
    for run in ("run-2", "run-3"):  # rejected again while the format stays wrong
        with pytest.raises(ingest.RejectRateExceeded) as caught:
            ingest_once(run)
        message = str(caught.value)
        assert f"{log}: 2,000 of 2,000 lines quarantined (100.0%; top reasons: invalid_json 2,000)" in message
        assert "more than 5.0% (FOOTFALL_MAX_REJECT_RATE)" in message
        assert 'FOOTFALL_LOG_FORMAT is \'{"time": "$time_local"' in message
        assert caught.value.committed["days"] == []

    # The evidence is kept (one copy, however many runs rejected it) and counted apart.
    assert warehouse_rows(data_dir, "select count(*), min(reason) from rejected_lines") == [(2000, "invalid_json")]
    assert warehouse_rows(
        data_dir, "select run_id, lines_read, lines_parsed, lines_quarantined, quarantine_reasons, rejected"
        " from data_quality order by run_id"
    ) == [
        ("run-1", 1000, 1000, 0, {}, False),
        ("run-2", 2000, 0, 2000, {"invalid_json": 2000}, True),
        ("run-3", 2000, 0, 2000, {"invalid_json": 2000}, True),
    ]  # fmt: skip
    # Nothing else moved: no events, the offset and the runs are those of run-1.
    assert totals(data_dir) == (1000, 1000, 1000)
    assert warehouse_rows(data_dir, "select committed_offset, committed_lines from ingest_sources") == [
        (len(first), 1000)
    ]
    assert warehouse_rows(data_dir, "select run_id from ingest_runs") == [("run-1",)]
    assert warehouse_rows(data_dir, "select count(*) from quarantine") == [(0,)]

    footfall_env(FOOTFALL_LOG_FORMAT="combined")  # the operator fixes the format
    fixed = ingest_once("run-4")
    assert (fixed["lines_read"], fixed["lines_parsed"], fixed["lines_quarantined"]) == (2000, 2000, 0)
    assert totals(data_dir) == (3000, 3000, 3000)
    assert warehouse_rows(
        data_dir, "select sum(lines_read), sum(lines_parsed) from data_quality where not rejected"
    ) == [(3000, 3000)]
    assert warehouse_rows(data_dir, "select count(*) from rejected_lines") == [(2000,)]
    assert ingest_once("run-5")["lines_read"] == 0


@pytest.mark.real_logs
def test_small_reads_are_rejected_only_when_no_line_parsed(footfall_env, tmp_path, nginx_lines):
    logs = tmp_path / "logs"
    logs.mkdir()
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*.log"))
    (logs / "mostly-fine.log").write_bytes(nginx_lines[0] + b"half a line\n")  # 50% bad, but 1 line parsed
    (logs / "wrong.log").write_bytes(b"2026/11/21 10:00:00 [error] 12#12: *1 open() failed\n" * 3)
    with pytest.raises(ingest.RejectRateExceeded) as caught:
        ingest_once("run-1")
    assert [r["path"] for r in caught.value.rejected] == [str(logs / "wrong.log")]
    assert caught.value.committed["days"] == ["2015-05-17"]  # the other file did commit
    assert warehouse_rows(data_dir, "select count(*) from events") == [(1,)]
    assert warehouse_rows(data_dir, "select count(*) from quarantine") == [(1,)]
    assert warehouse_rows(data_dir, "select count(*) from rejected_lines") == [(3,)]

    footfall_env(FOOTFALL_MAX_REJECT_RATE="1")  # the operator accepts the file as it is
    assert ingest_once("run-2")["lines_quarantined"] == 3
    assert warehouse_rows(data_dir, "select count(*) from quarantine") == [(4,)]


@pytest.mark.parametrize(
    ("read", "parsed", "quarantined", "max_rate", "rejected"),
    [
        (1000, 950, 50, 0.05, False),  # exactly the rate is allowed
        (1000, 949, 51, 0.05, True),
        (20, 18, 2, 0.05, True),  # from 20 lines on, the rate alone decides
        (19, 17, 2, 0.05, False),  # below 20, some lines parsed: committed
        (2, 1, 1, 0.05, False),
        (1, 0, 1, 0.05, True),  # below 20, nothing parsed: rejected
        (1000, 0, 1000, 1.0, False),  # 1 never rejects
        (1000, 999, 1, 0.0, True),  # 0 rejects any quarantined line
        (0, 0, 0, 0.0, False),
    ],
)
def test_reject_rule(read, parsed, quarantined, max_rate, rejected):
    assert ingest.exceeds_reject_rate(read, parsed, quarantined, max_rate) is rejected


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "5%", "nan"])
def test_max_reject_rate_must_be_a_fraction(raw):
    with pytest.raises(ConfigError, match="FOOTFALL_MAX_REJECT_RATE="):
        Settings.from_env({"FOOTFALL_MAX_REJECT_RATE": raw})
    assert Settings.from_env({"FOOTFALL_MAX_REJECT_RATE": "0.2"}).max_reject_rate == 0.2
    assert Settings.from_env({}).max_reject_rate == 0.05


@pytest.mark.slow
def test_the_dag_fails_without_retries_on_a_wrong_format(dagbag, footfall_env, tmp_path, nginx_lines):
    log = tmp_path / "access.log"
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log), FOOTFALL_LOG_FORMAT=JSON_TEMPLATE)
    log.write_bytes(b"".join(nginx_lines[:500]))
    run = dagbag.get_dag("footfall_ingest").test(logical_date=dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC))
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert (tis["commit_sources"].state, tis["commit_sources"].try_number) == ("failed", 1)  # not up_for_retry
    assert tis["rebuild_aggregates"].state == "upstream_failed"
    assert warehouse_rows(data_dir, "select lines_quarantined, rejected from data_quality") == [(500, True)]
    assert warehouse_rows(data_dir, "select count(*) from ingest_runs") == [(0,)]


def staged_events(settings: Settings, result: dict) -> dict[str, tuple[list[int], pa.Table]]:
    """event_date -> (rows of each row group, the file's rows in line order) of a staged unit."""
    out = {}
    for f in result["files"]:
        if f["kind"] == "events":
            path = settings.data_dir / f["staged"]
            meta = pq.ParquetFile(path).metadata
            groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            out[f["event_date"]] = (groups, pq.read_table(path).sort_by("line_number"))
    return out


def parse_whole_log(footfall_env, tmp_path, name: str, **env: str) -> tuple[Settings, dict]:
    footfall_env(
        FOOTFALL_LOG_GLOB=str(shared_log("nginx_logs")),
        FOOTFALL_DATA_DIR=str(tmp_path / name / "data"),
        FOOTFALL_SECRETS_DIR=str(tmp_path / "secrets"),
        **env,
    )
    settings = Settings.from_env()
    (unit,) = ingest.discover(settings)
    return settings, ingest.parse_source(settings, unit, "run", dt.date(2026, 11, 21))


@pytest.mark.real_logs
def test_a_day_is_written_as_whole_row_groups_whatever_the_chunk_size(footfall_env, tmp_path, monkeypatch):
    # 64 KiB chunks: each day of nginx_logs (~2,700 lines) spans about eight chunks, and
    # every day reaches its file as one row group once the buffers gather its chunks.
    settings, small = parse_whole_log(footfall_env, tmp_path, "small", FOOTFALL_CHUNK_BYTES=str(64 * 1024))
    small_days = staged_events(settings, small)
    assert len(small_days) == 19 and small["lines_parsed"] == 51462
    assert all(len(groups) == 1 for groups, _ in small_days.values())
    settings, large = parse_whole_log(footfall_env, tmp_path, "large")
    large_days = staged_events(settings, large)
    assert large_days.keys() == small_days.keys()
    for day, (_, table) in large_days.items():
        assert table.equals(small_days[day][1]), day

    # Bounds: a day is written when it reaches the row-group size, and every day once the
    # buffered chunks reach the byte bound (here each chunk alone), with the same rows.
    row_group_rows = ingest._ROW_GROUP_ROWS
    monkeypatch.setattr(ingest, "_ROW_GROUP_ROWS", 1000)
    settings, capped = parse_whole_log(footfall_env, tmp_path, "capped", FOOTFALL_CHUNK_BYTES=str(64 * 1024))
    for day, (groups, table) in staged_events(settings, capped).items():
        assert max(groups) <= 1000 and sum(groups) == table.num_rows, day
        assert table.equals(small_days[day][1]), day
    monkeypatch.setattr(ingest, "_ROW_GROUP_ROWS", row_group_rows)
    monkeypatch.setattr(ingest, "_EVENTS_BUFFER_BYTES", 1)
    settings, unbuffered = parse_whole_log(footfall_env, tmp_path, "unbuffered", FOOTFALL_CHUNK_BYTES=str(64 * 1024))
    unbuffered_days = staged_events(settings, unbuffered)
    assert sum(len(groups) for groups, _ in unbuffered_days.values()) > 19 * 5
    for day, (_, table) in unbuffered_days.items():
        assert table.equals(small_days[day][1]), day


@pytest.mark.real_logs
def test_views_follow_a_moved_data_dir_new_files_and_new_view_definitions(footfall_env, tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_bytes(shared_log("nginx_logs").read_bytes()[:200_000])
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*.log"))
    committed = ingest_once("run-1")
    assert committed["lines_parsed"] > 0
    (events,) = warehouse_rows(data_dir, "select count(*) from events")[0]
    assert events == committed["lines_parsed"]

    # The views name files by absolute path: a moved data dir is followed at the next connect.
    moved = tmp_path / "moved"
    data_dir.rename(moved)
    con = storage.connect(moved)
    try:
        assert con.execute("select count(*) from events").fetchone() == (events,)
        # A file registered without a refresh of the views is read at the next connect.
        path, day, rows = con.execute(
            "select path, event_date, row_count from ingest_files where kind = 'events' order by path limit 1"
        ).fetchone()
        copy = Path(path).with_name("copy-" + Path(path).name)
        (moved / copy).write_bytes((moved / path).read_bytes())
        con.execute(
            "insert into ingest_files select ?, kind, source_id, event_date, row_count, run_id, committed_at"
            " from ingest_files where path = ?",
            [str(copy), path],
        )
    finally:
        con.close()
    con = storage.connect(moved)
    try:
        assert con.execute("select count(*) from events").fetchone() == (events + rows,)
    finally:
        con.close()

    # A new view definition shipped with the code is created at the next connect.
    views = tmp_path / "views"
    shutil.copytree(storage.VIEWS_DIR, views)
    (views / "999_extra.sql").write_text("create or replace view extra_view as select count(*) as n from events;")
    monkeypatch.setattr(storage, "VIEWS_DIR", views)
    con = storage.connect(moved)
    try:
        assert con.execute("select n from extra_view").fetchone() == (events + rows,)
    finally:
        con.close()
