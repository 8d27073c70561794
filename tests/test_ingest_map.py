"""Sites and work units on real log lines: globs labelled with sites, and parsing mapped over byte-range work units.

Units: a file split into several units must give exactly what one unit gives (events with
their line numbers, quarantine, aggregates, data quality); a unit that did not parse ends its
source's commit before it, and the next run completes the file exactly once.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time

import duckdb
import pytest
from airflow.listeners import hookimpl
from conftest import shared_log
from test_fault_injection import SNAPSHOT_QUERIES

from warehouse.aggregation import aggregate
from warehouse.ingest.commit import commit
from warehouse.ingest.errors import UnitsFailed
from warehouse.ingest.log_files import SourceChanged
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import discover, plan_units
from warehouse.ingest.sources import find_sources
from warehouse.settings import ConfigError, LogSource, Settings

END = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def rows(data_dir, sql: str) -> list[tuple]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(data_dir, *, quality: bool = True) -> dict[str, list]:
    """Every table and view an analyst reads, and (``quality``) data_quality without its run ids.

    ``quality=False`` for runs that read a source in several runs (one data_quality row each).
    """
    queries = {**SNAPSHOT_QUERIES, "events_rows": "select * from events"}
    if quality:
        queries["data_quality"] = (
            "select source_id, start_offset, end_offset, lines_read, lines_parsed, lines_quarantined,"
            " quarantine_reasons, rejected from data_quality"
        )
    else:
        queries["data_quality"] = "select sum(lines_read), sum(lines_parsed), sum(lines_quarantined) from data_quality"
    queries.pop("ingest_files")  # more units, more files: their rows are compared through the views
    return {name: sorted(rows(data_dir, sql), key=repr) for name, sql in queries.items()}


def ingest_once(run_id: str, env: dict[str, str] | None = None) -> dict:
    """One ingest pass as the DAG runs it: plan sources, plan units, parse each unit, commit, aggregate."""
    settings = Settings.from_env({**os.environ, **(env or {})})
    units = plan_units(settings, find_sources(settings))
    results = [parse_source(ParseJob.from_settings(settings), u, run_id, END.date()) for u in units]
    committed = commit(settings, results, run_id, END, planned=[u.to_dict() for u in units])
    aggregate(settings, committed["days"])
    return committed


def data_dir_at(footfall_env, path, **env: str):
    """Point the ingest at another data dir (same secrets dir, so the same daily salts)."""
    footfall_env(FOOTFALL_DATA_DIR=str(path), **env)
    return path


@pytest.fixture
def nginx_lines() -> list[bytes]:
    return shared_log("nginx_logs").read_bytes().splitlines(keepends=True)[:6000]


@pytest.fixture
def apache_lines() -> list[bytes]:
    return shared_log("apache_logs").read_bytes().splitlines(keepends=True)


# -- site labels ---------------------------------------------------------------------------


@pytest.mark.real_logs
def test_two_sites_label_their_events_and_key_their_visitors(
    footfall_env, monkeypatch, tmp_path, nginx_lines, apache_lines
):
    shop, blog = tmp_path / "shop", tmp_path / "blog"
    shop.mkdir()
    blog.mkdir()
    (shop / "access.log").write_bytes(b"".join(nginx_lines[:2000]))
    # The blog's log begins differently (another source) and repeats 50 of the shop's requests:
    # the same client, user agent and day on two sites are two visitors.
    (blog / "access.log").write_bytes(b"".join(apache_lines[:3000] + nginx_lines[:50]))
    data_dir = footfall_env(
        FOOTFALL_SITE="shop",
        FOOTFALL_LOG_GLOB=str(shop / "*.log"),  # unlabelled: FOOTFALL_SITE
        FOOTFALL_LOG_SOURCES=f"blog={blog}/*.log",
    )
    committed = ingest_once("run-1")
    assert committed["lines_read"] == 5050

    assert rows(data_dir, "select site, count(*) from events group by site order by site") == [
        ("blog", 3050),
        ("shop", 2000),
    ]
    assert rows(data_dir, "select path, site from ingest_sources order by site") == [
        (str(blog / "access.log"), "blog"),
        (str(shop / "access.log"), "shop"),
    ]
    # The 50 repeated requests: same client_ip_hash (keyed without the site), other visitor ids.
    pairs = rows(
        data_dir,
        "select s.client_ip_hash = b.client_ip_hash, s.visitor_id <> b.visitor_id from events s join events b"
        " on s.site = 'shop' and b.site = 'blog' and s.line_number = b.line_number - 3000",
    )
    assert len(pairs) == 50 and all(same_ip and other_visitor for same_ip, other_visitor in pairs)
    # Aggregates stay over all sites: the same person on two sites counts as two visitors.
    assert rows(data_dir, "select sum(hits) from daily_traffic") == [(5050,)]
    assert rows(data_dir, "select sum(visitors) from daily_traffic") == rows(
        data_dir,
        "select count(*) from (select distinct cast(ts as date), visitor_id from events"
        " where is_page_view(method, status, path) and not coalesce(is_crawler, false))",
    )

    # Each site's events equal those of a deployment reading only that site (same secrets: same salts).
    alone = data_dir_at(footfall_env, tmp_path / "blog-alone", FOOTFALL_SITE="blog", FOOTFALL_LOG_GLOB=f"{blog}/*.log")
    monkeypatch.delenv("FOOTFALL_LOG_SOURCES")
    ingest_once("run-alone")
    query = "select * from events where site = 'blog' order by line_number"
    assert rows(alone, query) == rows(data_dir, query)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FOOTFALL_LOG_SOURCES": "/var/log/nginx/shop.log"}, "has no site label; write site=glob"),
        ({"FOOTFALL_LOG_SOURCES": "my shop=/var/log/a.log"}, "site label 'my shop' in 'my shop=/var/log/a.log'"),
        ({"FOOTFALL_LOG_SOURCES": "-shop=/var/log/a.log"}, "must be 1 to 63 letters"),
        ({"FOOTFALL_LOG_SOURCES": "shop="}, "'shop=' has no glob after '='"),
        ({"FOOTFALL_LOG_SOURCES": "shop=/l/a.log:shop=/l/a.log"}, "'/l/a.log' is configured twice for site 'shop'"),
        (
            {"FOOTFALL_LOG_GLOB": "/l/a.log", "FOOTFALL_SITE": "shop", "FOOTFALL_LOG_SOURCES": "shop=/l/a.log"},
            "'/l/a.log' is configured twice for site 'shop'",
        ),
        (
            {"FOOTFALL_LOG_GLOB": "/l/a.log", "FOOTFALL_LOG_SOURCES": "blog=/l/a.log"},
            "'/l/a.log' is configured for two sites, 'default' and 'blog'",
        ),
    ],
)
def test_bad_site_labels_fail_fast_naming_the_entry(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Settings.from_env(env)


def test_labels_are_optional_and_the_sample_is_read_only_when_nothing_is_set():
    plain = Settings.from_env({"FOOTFALL_LOG_GLOB": "/a/*.log:/b/*.log"})
    assert plain.log_sources == (LogSource("default", "/a/*.log"), LogSource("default", "/b/*.log"))
    mixed = Settings.from_env(
        {"FOOTFALL_SITE": "main", "FOOTFALL_LOG_GLOB": "/a/*.log", "FOOTFALL_LOG_SOURCES": "shop=/s/*.log\nblog=/b/*"}
    )
    assert mixed.log_sources == (
        LogSource("main", "/a/*.log"),
        LogSource("shop", "/s/*.log"),
        LogSource("blog", "/b/*"),
    )
    assert [s.site for s in Settings.from_env({"FOOTFALL_LOG_SOURCES": "shop=/s/*.log"}).log_sources] == ["shop"]
    assert Settings.from_env({}).log_globs[0].endswith("apache_combined_sample.log")


@pytest.mark.real_logs
def test_a_file_matched_by_two_sites_globs_is_an_error_naming_both(footfall_env, tmp_path, nginx_lines):
    (tmp_path / "shop-access.log").write_bytes(b"".join(nginx_lines[:10]))
    footfall_env(FOOTFALL_LOG_GLOB=str(tmp_path / "shop-*.log"), FOOTFALL_LOG_SOURCES=f"blog={tmp_path}/*.log")
    with pytest.raises(ConfigError) as caught:
        find_sources(Settings.from_env())
    message = str(caught.value)
    assert str(tmp_path / "shop-access.log") in message
    assert f"{str(tmp_path / 'shop-*.log')!r} (site 'default')" in message
    assert f"{str(tmp_path / '*.log')!r} (site 'blog')" in message


# -- work units ----------------------------------------------------------------------------


@pytest.fixture
def logs(tmp_path, nginx_lines, apache_lines):
    """A plain log with two malformed lines and an unterminated, finished last line, and a .gz."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = list(nginx_lines)
    lines[1500:1500] = [b"\x00\x01 not a log line\n"]
    lines[4200:4200] = [lines[4199][:40] + b"\n"]
    lines[-1] = lines[-1].rstrip(b"\n")
    (logs / "access.log").write_bytes(b"".join(lines))
    idle = time.time() - 600
    os.utime(logs / "access.log", (idle, idle))
    (logs / "old.log.gz").write_bytes(gzip.compress(b"".join(apache_lines[:3000])))
    rotated = time.time() - 86400  # rotated yesterday: older than access.log
    os.utime(logs / "old.log.gz", (rotated, rotated))
    return logs


@pytest.mark.real_logs
def test_a_file_split_into_units_equals_one_unit(footfall_env, tmp_path, logs):
    split = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"), FOOTFALL_MAP_CHUNK_BYTES="100000")
    settings = Settings.from_env()
    units = discover(settings)
    plain = [u for u in units if not u.plan.compressed]
    gz = [u for u in units if u.plan.compressed]
    assert len(plain) >= 5
    assert [(u.index, u.end_offset) for u in gz] == [(0, None)]  # a .gz cannot be seeked: one unit
    data = (logs / "access.log").read_bytes()
    for before, after in zip(plain, plain[1:], strict=False):
        assert before.end_offset == after.start_offset and data[after.start_offset - 1 : after.start_offset] == b"\n"
        assert after.first_line == data.count(b"\n", 0, after.start_offset)
    assert plain[0].start_offset == 0 and plain[-1].end_offset is None
    split_committed = ingest_once("run-split")

    whole = data_dir_at(footfall_env, tmp_path / "whole", FOOTFALL_MAP_CHUNK_BYTES=str(64 * 1024 * 1024))
    assert len(discover(Settings.from_env())) == 2
    whole_committed = ingest_once("run-whole")

    assert split_committed == whole_committed
    assert split_committed["lines_read"] == 9002 and split_committed["lines_quarantined"] == 2
    assert snapshot(split) == snapshot(whole)
    assert rows(split, "select count(*) from ingest_files where kind = 'events'") > rows(
        whole, "select count(*) from ingest_files where kind = 'events'"
    )
    assert ingest_once("run-again")["lines_read"] == 0


@pytest.mark.real_logs
def test_a_failed_middle_unit_commits_the_prefix_and_the_next_run_completes_once(footfall_env, tmp_path, logs):
    clean = data_dir_at(footfall_env, tmp_path / "clean", FOOTFALL_LOG_GLOB=str(logs / "access.log"))
    ingest_once("clean")
    data_dir = data_dir_at(footfall_env, tmp_path / "data", FOOTFALL_MAP_CHUNK_BYTES="200000")
    settings = Settings.from_env()
    units = discover(settings)
    assert len(units) >= 4
    # Unit 1's parse task failed (after its retries): Airflow hands commit_sources the others' results.
    results = [parse_source(ParseJob.from_settings(settings), u, "run-1", END.date()) for u in units if u.index != 1]
    with pytest.raises(UnitsFailed) as caught:
        commit(settings, results, "run-1", END, planned=[u.to_dict() for u in units])
    assert [(f["index"], f["committed_offset"]) for f in caught.value.failed] == [(1, units[1].start_offset)]
    assert "units after it were discarded" in str(caught.value)
    aggregate(settings, caught.value.committed["days"])

    prefix_lines = units[1].first_line
    assert rows(data_dir, "select committed_offset, committed_lines from ingest_sources") == [
        (units[1].start_offset, prefix_lines)
    ]
    assert rows(data_dir, "select start_offset, end_offset, lines_read from data_quality") == [
        (0, units[1].start_offset, prefix_lines)
    ]
    assert rows(data_dir, "select count(*), max(line_number) from events") == [(prefix_lines, prefix_lines)]
    assert rows(data_dir, "select sum(hits) from daily_traffic") == [(prefix_lines,)]
    assert rows(data_dir, "select count(*) from ingest_runs") == [(0,)]  # the interval is not ingested yet
    assert not (data_dir / "staging" / "run-1").exists()  # later units' staged files were discarded

    again = ingest_once("run-2")
    assert again["lines_read"] == 6002 - prefix_lines
    assert snapshot(data_dir, quality=False) == snapshot(clean, quality=False)
    assert rows(data_dir, "select count(*) from ingest_runs") == [(1,)]


@pytest.mark.real_logs
def test_a_file_truncated_after_planning_fails_its_unit(footfall_env, tmp_path, logs):
    footfall_env(FOOTFALL_LOG_GLOB=str(logs / "access.log"), FOOTFALL_MAP_CHUNK_BYTES="200000")
    settings = Settings.from_env()
    units = discover(settings)
    with open(logs / "access.log", "r+b") as f:
        f.truncate(units[1].end_offset - 10)
    with pytest.raises(SourceChanged, match="has no line end at byte"):
        parse_source(ParseJob.from_settings(settings), units[1], "run-1", END.date())


@pytest.mark.real_logs
def test_units_beyond_the_cap_wait_for_the_next_runs(footfall_env, tmp_path, logs, apache_lines):
    clean = data_dir_at(footfall_env, tmp_path / "clean", FOOTFALL_LOG_GLOB=str(logs / "*"))
    ingest_once("clean")
    live = logs / "live.log"
    live.write_bytes(b"".join(apache_lines[-100:]))  # newest: planned first
    ingest_once("clean-live")
    live.unlink()
    data_dir = data_dir_at(
        footfall_env, tmp_path / "capped", FOOTFALL_MAP_CHUNK_BYTES="300000", FOOTFALL_MAP_MAX_UNITS="2"
    )
    live.write_bytes(b"".join(apache_lines[-100:]))
    units = discover(Settings.from_env())
    assert [(u.plan.path, u.index) for u in units] == [(str(live), 0), (str(logs / "access.log"), 0)]
    runs = 0
    while ingest_once(f"run-{runs}")["lines_read"]:
        runs += 1
        assert rows(data_dir, "select count(*) from ingest_runs") == [(runs,)]  # a backlog is not a failure
    assert runs >= 3
    assert snapshot(data_dir, quality=False) == snapshot(clean, quality=False)


class TruncateAfterPlanning:
    """An Airflow listener that truncates a log right after ``plan_units`` succeeded: a file
    rewritten while the run is in flight, so the unit planned across the cut fails to parse."""

    def __init__(self, path, size: int):
        self.path, self.size = path, size

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        if task_instance.task_id == "plan_units":
            with open(self.path, "r+b") as f:
                f.truncate(self.size)


@pytest.mark.slow
def test_the_dag_maps_over_units_and_commits_around_a_failed_one(dagbag, footfall_env, tmp_path, logs, apache_lines):
    from airflow.sdk.listener import get_listener_manager

    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"), FOOTFALL_MAP_CHUNK_BYTES="200000")
    whole = b"".join(apache_lines[3000:])
    broken = logs / "broken.log"
    broken.write_bytes(whole)
    idle = time.time() - 3600
    os.utime(broken, (idle, idle))
    units = discover(Settings.from_env())
    broken_units = [u for u in units if u.plan.path == str(broken)]
    assert len(broken_units) >= 3
    # Cut inside its second-to-last unit: that unit fails (no line end where it was planned);
    # the last one, starting past the cut, reads nothing.
    listener = TruncateAfterPlanning(broken, broken_units[-2].start_offset + 1000)
    get_listener_manager().add_listener(listener)
    dag = dagbag.get_dag("footfall_ingest")
    retries = {t.task_id: t.retries for t in dag.tasks}
    for t in dag.tasks:
        t.retries = 0  # the parse failure is permanent: do not wait for retry delays
    try:
        run = dag.test(logical_date=dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC))
    finally:
        get_listener_manager().pm.unregister(listener)
        for t in dag.tasks:
            t.retries = retries[t.task_id]
    tis = run.get_task_instances()
    parses = sorted((ti.map_index, ti.state) for ti in tis if ti.task_id == "parse_source")
    assert len(parses) == len(units) >= 5
    assert [state for _, state in parses].count("failed") == 1
    states = {ti.task_id: ti.state for ti in tis if ti.task_id != "parse_source"}
    assert run.state == "failed"
    assert (states["commit_sources"], states["rebuild_aggregates"]) == ("failed", "upstream_failed")
    # The other sources committed in full, the broken one up to its failed unit, and their days
    # were rebuilt; the run is not recorded.
    before_cut = whole[: broken_units[-2].start_offset].count(b"\n")
    assert rows(data_dir, "select count(*) from events") == [(9000 + before_cut,)]
    assert rows(data_dir, "select sum(hits) from daily_traffic") == [(9000 + before_cut,)]
    assert rows(data_dir, "select count(*) from ingest_sources") == [(3,)]
    assert rows(data_dir, "select count(*) from ingest_runs") == [(0,)]

    broken.write_bytes(whole)  # rewritten in full: the next run reads the rest, once
    assert ingest_once("run-2")["lines_read"] == len(apache_lines) - 3000 - before_cut
    assert rows(data_dir, "select count(*) from events") == [(9000 + len(apache_lines) - 3000,)]
