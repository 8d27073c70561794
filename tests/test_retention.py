"""Retention on real files with a controlled clock: raw data goes, aggregates stay, rollups add up.

A real log (apache_logs: 10,000 lines, UTC days 2015-05-17 to 2015-05-20, plus two lines that do
not parse) is ingested once with the real ingest functions; every test starts from a copy of
that data dir. The retention clock is passed in, as the DAG passes its data interval end:
``LAST_DAY + 8 days`` is past the 7-day raw retention of every day, ``+ 31 days`` past the
30-day aggregate retention these tests set (by default daily aggregates are kept forever).
Expected rollups are computed here from the snapshot of the daily tables, not with the rollup code.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, shared_log
from warehouse_queries import query

from warehouse import ingest, retention, storage
from warehouse.settings import ConfigError, Settings

LAST_DAY = dt.date(2015, 5, 20)
PLUS_7 = dt.datetime(2015, 5, 27, 23, 59, tzinfo=dt.UTC)  # 2015-05-20 ended 7 days and 23:59 ago
PLUS_8 = dt.datetime(2015, 5, 28, tzinfo=dt.UTC)
PLUS_31 = dt.datetime(2015, 6, 20, tzinfo=dt.UTC)
DAYS = [dt.date(2015, 5, d) for d in (17, 18, 19, 20)]
# Columns of the monthly tables, computed below from the daily snapshot: (monthly table, daily
# table, keys, {monthly column: daily column summed}).
EXPECTED_ROLLUPS = [
    ("traffic_monthly", "daily_traffic", [],
     {"hits": "hits", "page_views": "page_views", "visitor_days": "visitors", "bytes": "bytes", "visits": "visits"}),
    ("visits_monthly", "visits_daily", [], {"visits": "visits", "bounces": "bounces"}),
    ("status_monthly", "status_daily", ["status"], {"hits": "hits"}),
    ("page_monthly", "page_daily", ["path"], {"page_views": "page_views", "visitor_days": "visitors"}),
    ("referrers_monthly", "referrers_daily",
     ["referrer_class", "referrer_domain", "utm_source", "utm_medium", "utm_campaign"],
     {"page_views": "page_views", "visitor_days": "visitors"}),
    ("devices_monthly", "devices_daily", ["device_type", "browser_family", "os_family"],
     {"page_views": "page_views", "visitor_days": "visitors"}),
    ("countries_monthly", "countries_daily", ["country_code"],
     {"page_views": "page_views", "visitor_days": "visitors"}),
    ("bots_monthly", "bots_daily", ["crawler_name"], {"hits": "hits", "bytes": "bytes"}),
    ("entry_pages_monthly", "entry_pages_daily", ["path"], {"entries": "entries", "bounces": "bounces"}),
    ("error_paths_monthly", "error_paths_daily", ["status", "path"], {"hits": "hits"}),
]  # fmt: skip


# Routes for apache_logs' paths, so the per-post visitor table has rows too.
ROUTES = """
[[routes]]
page_type = "community"
pattern = "/projects/{community_slug}/..."

[[routes]]
page_type = "blog_post"
pattern = "/articles/{post_id}"
"""


def env_for(root: Path, data_dir: Path) -> dict[str, str]:
    routes = root / "routes.toml"
    routes.write_text(ROUTES)
    return {
        "FOOTFALL_DATA_DIR": str(data_dir),
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        "FOOTFALL_LOG_GLOB": str(root / "logs" / "*.log"),
        "FOOTFALL_ROUTES": str(routes),
        # Unset, daily aggregates are kept forever; most tests here are about rolling them up.
        "FOOTFALL_RETENTION_AGGREGATES_DAYS": "30",
    }


def ingest_run(settings: Settings, run_id: str, interval_end: dt.datetime) -> dict:
    """One ingest pass as the DAG runs it; quarantine partitions follow the interval's date."""
    plans = ingest.discover(settings)
    results = [ingest.parse_source(settings, p, run_id, interval_end.date()) for p in plans]
    committed = ingest.commit(settings, results, run_id, interval_end)
    ingest.aggregate(settings, committed["days"])
    return committed


def _normalise(value):
    return round(value, 9) if isinstance(value, float) else value


def snapshot(data_dir: Path, tables) -> dict[str, list[dict]]:
    """Rows of each table as dicts, in a stable order."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        out = {}
        for table in tables:
            cur = con.execute(f"select * from {table}")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, map(_normalise, row), strict=True)) for row in cur.fetchall()]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


MONTHLY = [r[0] for r in EXPECTED_ROLLUPS]
STATE_TABLES = [
    *storage.AGGREGATE_TABLES, *MONTHLY, "rollup_days", "retention_purged_days", "retention_unlink_queue",
    "ingest_files", "aggregates_pending",
]  # fmt: skip


def parquet_on_disk(data_dir: Path) -> set[str]:
    files = (p for top in ("events", "quarantine") for p in (data_dir / top).rglob("*.parquet"))
    return {str(p.relative_to(data_dir)) for p in files}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A data dir that has ingested the real log (with two bad lines), and its aggregates."""
    root = tmp_path_factory.mktemp("retention")
    (root / "logs").mkdir()
    lines = shared_log("apache_logs").read_bytes().splitlines(keepends=True)
    lines[500:500] = [b"this is not an access log line\n"]
    lines[7000:7000] = [b"\x00\x01\x02\n"]
    (root / "logs" / "apache.log").write_bytes(b"".join(lines))
    data_dir = root / "base"
    settings = Settings.from_env(env_for(root, data_dir))
    ingest_run(settings, "ingest-1", dt.datetime(2015, 5, 20, 12, tzinfo=dt.UTC))
    daily = snapshot(data_dir, storage.AGGREGATE_TABLES)
    assert all(daily.values()), "every aggregate table must have rows"
    assert query(data_dir, "select count(*) from quarantine") == [(2,)]
    return {"root": root, "dir": data_dir, "daily": daily, "lines": lines}


@pytest.fixture
def world(base, tmp_path):
    """A private copy of the base data dir, and its settings."""
    data_dir = tmp_path / "data"
    shutil.copytree(base["dir"], data_dir)
    return {**base, "dir": data_dir, "settings": Settings.from_env(env_for(base["root"], data_dir))}


def run_retention(world, now: dt.datetime) -> dict:
    return retention.run(world["settings"], now, dt.datetime.now(dt.UTC))


@pytest.mark.real_logs
def test_raw_data_goes_after_its_period_and_every_aggregate_row_stays(world, monkeypatch, capsys):
    data_dir = world["dir"]
    run_retention(world, PLUS_7)
    assert query(data_dir, "select distinct event_date from events") == [(LAST_DAY,)]
    assert query(data_dir, "select count(*) from quarantine") == [(2,)]  # ingest_date 2015-05-20: kept too

    from warehouse.cli import main

    for key, value in env_for(world["root"], data_dir).items():
        monkeypatch.setenv(key, value)
    assert main(["retention", "--now", PLUS_8.isoformat()]) == 0
    printed = capsys.readouterr().out
    assert "2,579 event(s) in 1 file(s), partitions ['2015-05-20']" in printed
    assert "quarantine:         before 2015-05-21 (UTC): 2 line(s) in 1 file(s)" in printed

    assert query(data_dir, "select count(*) from events") == [(0,)]
    assert query(data_dir, "select count(*) from quarantine") == [(0,)]
    assert query(data_dir, "select count(*) from ingest_files") == [(0,)]
    assert parquet_on_disk(data_dir) == set()
    assert not list((data_dir / "events").iterdir())  # empty partition dirs are removed too
    purged = query(data_dir, "select event_date, files, rows, late_rows from retention_purged_days order by 1")
    assert [p[0] for p in purged] == DAYS and sum(p[2] for p in purged) == 10_000 and {p[3] for p in purged} == {0}
    assert snapshot(data_dir, storage.AGGREGATE_TABLES) == world["daily"]
    assert query(data_dir, "select count(*) from rollup_days") == [(0,)]  # aggregates are younger than 30 days


def late_lines(lines: list[bytes]) -> bytes:
    """50 lines of the purged day 2015-05-18 and 30 of 2015-05-21 (a day whose raw data is kept),
    with their paths changed so that the file is new content."""
    day18 = [line for line in lines if b"/18/May/2015:" in line or b"[18/May/2015:" in line][:80]
    changed = [line.replace(b'"GET /', b'"GET /late-line/') for line in day18]
    return b"".join(changed[:50] + [line.replace(b"[18/May/2015:", b"[21/May/2015:") for line in changed[50:]])


@pytest.mark.real_logs
def test_late_lines_rebuild_and_a_new_aggregates_version_leave_purged_days_alone(world, caplog):
    data_dir, settings = world["dir"], world["settings"]
    run_retention(world, PLUS_8)

    (world["root"] / "logs" / "late.log").write_bytes(late_lines(world["lines"]))
    try:
        with caplog.at_level("WARNING", logger="warehouse.storage"):
            committed = ingest_run(settings, "ingest-late", dt.datetime(2015, 5, 28, 0, 30, tzinfo=dt.UTC))
    finally:
        (world["root"] / "logs" / "late.log").unlink()
    assert committed["days"] == ["2015-05-18", "2015-05-21"]
    assert "not rebuilding 1 day(s) whose raw events retention purged (2015-05-18)" in caplog.text
    assert "50 late event(s)" in caplog.text
    # The late events are kept (registered, in the view) but the purged day is not recomputed.
    assert query(data_dir, "select event_date, count(*) from events group by 1 order by 1") == [
        (dt.date(2015, 5, 18), 50),
        (dt.date(2015, 5, 21), 30),
    ]
    assert query(data_dir, "select count(*) from aggregates_pending") == [(0,)]
    after = snapshot(data_dir, storage.AGGREGATE_TABLES)
    day21 = {t: [r for r in rows if str(r.get("day", r.get("hour")))[:10] == "2015-05-21"] for t, rows in after.items()}
    assert day21["daily_traffic"][0]["hits"] == 30  # a day whose raw data is kept is aggregated as usual
    without21 = {t: [r for r in rows if r not in day21[t]] for t, rows in after.items()}
    assert without21 == world["daily"]

    from warehouse.cli import rebuild

    assert rebuild(settings) == 1  # 2015-05-21 only
    assert rebuild(settings, "2015-05-17", "2015-05-20") == 0
    assert snapshot(data_dir, storage.AGGREGATE_TABLES) == after

    # A new AGGREGATES_VERSION recreates the tables and rebuilds every day it still can.
    con = storage.connect(data_dir)
    con.execute("update warehouse_meta set value = 'an older version' where key = 'aggregates_version'")
    con.execute("delete from daily_traffic where day = '2015-05-21'")  # so that the rebuild must bring it back
    con.close()
    assert ingest.aggregate(settings, []) == 1
    assert snapshot(data_dir, storage.AGGREGATE_TABLES) == after
    assert query(data_dir, "select value from warehouse_meta where key = 'aggregates_version'") == [
        (storage.AGGREGATES_VERSION,)
    ]

    # The next run purges the late events of the purged day, and counts them as late.
    run_retention(world, PLUS_8)
    assert query(data_dir, "select event_date, count(*) from events group by 1") == [(dt.date(2015, 5, 21), 30)]
    assert query(data_dir, "select rows, late_rows from retention_purged_days where event_date = '2015-05-18'") == [
        (2893 + 50, 50)
    ]
    assert snapshot(data_dir, storage.AGGREGATE_TABLES) == after


def expected_rollups(daily: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The monthly tables as sums of the daily snapshot, every day of one month."""
    out = {}
    for monthly, table, keys, measures in EXPECTED_ROLLUPS:
        groups: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
        for row in daily[table]:
            group = groups[(row["day"].replace(day=1), *(row[k] for k in keys))]
            group["days"] += 1
            for column, source in measures.items():
                group[column] += row[source]
        out[monthly] = sorted(
            ({"month": g[0], **dict(zip(keys, g[1:], strict=True)), **sums} for g, sums in groups.items()), key=repr
        )
    return out


def rollups(data_dir: Path) -> tuple[dict[str, list[dict]], list[float]]:
    """The monthly tables, with visit_duration_s (a float sum of rounded averages) apart."""
    got = snapshot(data_dir, MONTHLY)
    duration = [row.pop("visit_duration_s") for row in got["visits_monthly"]]
    return got, duration


@pytest.mark.real_logs
def test_daily_aggregates_roll_up_into_monthly_tables_then_go(world):
    data_dir = world["dir"]
    run_retention(world, PLUS_8)
    run_retention(world, PLUS_31)

    for table in retention.daily_aggregate_tables():
        assert query(data_dir, f"select count(*) from {table}") == [(0,)], table
    # The visitor tables keep their 90 days.
    visitor_tables = [table for table, _ in retention.VISITOR_TABLES]
    assert snapshot(data_dir, visitor_tables) == {t: world["daily"][t] for t in visitor_tables}
    assert query(data_dir, "select day from rollup_days order by day") == [(d,) for d in DAYS]
    got, duration = rollups(data_dir)
    assert got == {table: sorted(rows, key=repr) for table, rows in expected_rollups(world["daily"]).items()}
    visits = world["daily"]["visits_daily"]
    assert duration == [pytest.approx(sum(r["avg_visit_duration_s"] * r["visits"] for r in visits))]
    assert got["traffic_monthly"][0]["hits"] == 10_000 and got["traffic_monthly"][0]["days"] == 4

    # Repeated and later runs change nothing but the visitor tables' own expiry: every day was
    # rolled up exactly once.
    kept = [t for t in STATE_TABLES if t not in visitor_tables]
    state = snapshot(data_dir, kept)
    run_retention(world, PLUS_31)
    run_retention(world, PLUS_31 + dt.timedelta(days=400))
    assert snapshot(data_dir, kept) == state
    assert snapshot(data_dir, visitor_tables) == {t: [] for t in visitor_tables}


@pytest.mark.real_logs
def test_a_day_is_rolled_up_only_once_its_raw_events_are_gone(world, caplog):
    """An old day whose aggregates wait for a rebuild keeps its raw events, and is neither rolled
    up nor deleted; the other days go as usual."""
    data_dir = world["dir"]
    con = storage.connect(data_dir)
    con.execute("insert into aggregates_pending values ('2015-05-19')")  # as a killed ingest leaves it
    con.close()
    events_19 = query(data_dir, "select count(*) from events where event_date = '2015-05-19'")[0][0]
    # rebuild_pending would clear it; without it purge_raw must keep that partition.
    with caplog.at_level("WARNING", logger="warehouse.retention"):
        result = retention.purge_raw(world["settings"], PLUS_31)
    assert result["blocked"] == ["2015-05-19"] and "aggregates_pending" in result["blocked_reason"]
    assert result["event_partitions"] == ["2015-05-17", "2015-05-18", "2015-05-20"]
    assert result["event_rows"] == 10_000 - events_19
    assert "raw events of 1 expired partition(s) kept this run" in caplog.text and "2015-05-19" in caplog.text
    assert query(data_dir, "select distinct event_date from events") == [(dt.date(2015, 5, 19),)]
    others = [d.isoformat() for d in DAYS if d != dt.date(2015, 5, 19)]
    assert retention.roll_up(world["settings"], PLUS_31) == {"days": others, "waiting": ["2015-05-19"]}
    retention.purge_aggregates(world["settings"], PLUS_31)
    assert query(data_dir, "select day from daily_traffic") == [(dt.date(2015, 5, 19),)]
    # The next complete run rebuilds it, then purges and rolls it up: the same rollups as one clean run.
    assert run_retention(world, PLUS_31)["roll_up"]["days"] == ["2015-05-19"]
    assert query(data_dir, "select count(*) from daily_traffic") == [(0,)]
    got, _ = rollups(data_dir)
    assert got == {table: sorted(rows, key=repr) for table, rows in expected_rollups(world["daily"]).items()}


CHILD = """
import datetime as dt, sys
from warehouse import retention
from warehouse.settings import Settings
now = dt.datetime.fromisoformat(sys.argv[1])
retention.run(Settings.from_env(), now, dt.datetime.now(dt.UTC))
"""


def run_child(world, now: dt.datetime, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FOOTFALL_FAILPOINT"}
    env.update(env_for(world["root"], world["dir"]))
    if failpoint:
        env["FOOTFALL_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-c", CHILD, now.isoformat()], cwd=REPO, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def clean_state(base, tmp_path_factory):
    """The state after one uninterrupted retention run at +31 days, from the base data dir."""
    data_dir = tmp_path_factory.mktemp("retention-clean") / "data"
    shutil.copytree(base["dir"], data_dir)
    retention.run(Settings.from_env(env_for(base["root"], data_dir)), PLUS_31, dt.datetime.now(dt.UTC))
    return snapshot(data_dir, STATE_TABLES), parquet_on_disk(data_dir)


@pytest.mark.slow
@pytest.mark.parametrize(
    "failpoint", ["retention.after_purge_commit", "retention.mid_rollup", "retention.mid_purge_aggregates"]
)
def test_a_killed_retention_run_then_a_rerun_equals_one_clean_run(world, clean_state, failpoint):
    killed = run_child(world, PLUS_31, failpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if failpoint == "retention.after_purge_commit":
        # Unregistered but still on disk: queued for deletion, which the rerun finishes.
        assert parquet_on_disk(world["dir"]) and query(world["dir"], "select count(*) from ingest_files") == [(0,)]
        assert query(world["dir"], "select count(*) from retention_unlink_queue") != [(0,)]
    rerun = run_child(world, PLUS_31)
    assert rerun.returncode == 0, rerun.stderr
    assert (snapshot(world["dir"], STATE_TABLES), parquet_on_disk(world["dir"])) == clean_state


@pytest.mark.real_logs
def test_the_orphan_sweep_removes_old_unregistered_files_only(world):
    data_dir = world["dir"]
    registered = data_dir / query(data_dir, "select path from ingest_files where kind = 'events' limit 1")[0][0]
    old, fresh = registered.with_name("orphan-old.parquet"), registered.with_name("orphan-fresh.parquet")
    shutil.copy(registered, old)
    shutil.copy(registered, fresh)
    two_hours_ago = time.time() - 2 * 3600
    for path in (old, registered):
        os.utime(path, (two_hours_ago, two_hours_ago))
    stale_run, live_run = data_dir / "staging" / "run-old", data_dir / "staging" / "run-live"
    (stale_run / "src").mkdir(parents=True)
    (live_run / "src").mkdir(parents=True)
    (stale_run / "src" / "events.parquet").write_bytes(b"x")
    (live_run / "src" / "events.parquet").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    for path in (stale_run / "src" / "events.parquet", stale_run / "src", stale_run):
        os.utime(path, (two_days_ago, two_days_ago))

    swept = retention.sweep_orphans(world["settings"], dt.datetime.now(dt.UTC))

    assert swept == {"files": [str(old.relative_to(data_dir))], "staging": ["run-old"]}
    assert not old.exists() and fresh.exists() and registered.exists() and live_run.exists()
    assert snapshot(data_dir, storage.AGGREGATE_TABLES) == world["daily"]


@pytest.mark.real_logs
def test_visitor_tables_keep_their_own_period_without_a_rollup(world):
    data_dir = world["dir"]
    visitor_tables = [table for table, _ in retention.VISITOR_TABLES]
    assert {"visitor_daily", "visitor_hourly", "post_views_daily"} <= set(visitor_tables)
    assert not set(visitor_tables) & set(retention.daily_aggregate_tables())
    run_retention(world, PLUS_31)
    assert snapshot(data_dir, visitor_tables) == {t: world["daily"][t] for t in visitor_tables}  # 90 days: all kept
    run_retention(world, dt.datetime(2015, 8, 19, tzinfo=dt.UTC))  # 2015-05-20 + 91 days
    for table in visitor_tables:
        assert query(data_dir, f"select count(*) from {table}") == [(0,)], table


def test_utc_partitions_of_a_local_day():
    day = dt.date(2015, 5, 18)
    assert storage.utc_partitions_of(day, "UTC") == [day]
    assert storage.utc_partitions_of(day, "America/New_York") == [day, day + dt.timedelta(days=1)]
    assert storage.utc_partitions_of(day, "Asia/Tokyo") == [day - dt.timedelta(days=1), day]


def test_every_daily_aggregate_table_is_rolled_up_or_says_why_not():
    rolled = {r.daily for r in retention.ROLLUPS}
    assert rolled | set(retention.NOT_ROLLED_UP) == set(retention.daily_aggregate_tables())
    assert not rolled & set(retention.NOT_ROLLED_UP)


def test_retention_settings_have_defaults_and_fail_fast():
    settings = Settings.from_env({})
    periods = (settings.retention_events_days, settings.retention_quarantine_days)
    # Daily aggregates hold no personal data: unset, they are kept forever.
    assert periods + (settings.retention_aggregates_days, settings.retention_visitors_days) == (7, 7, None, 90)
    with pytest.raises(ConfigError, match="FOOTFALL_RETENTION_EVENTS_DAYS='a week' is not a whole number"):
        Settings.from_env({"FOOTFALL_RETENTION_EVENTS_DAYS": "a week"})
    with pytest.raises(ConfigError, match="FOOTFALL_RETENTION_QUARANTINE_DAYS='0' must be greater than 0"):
        Settings.from_env({"FOOTFALL_RETENTION_QUARANTINE_DAYS": "0"})
    with pytest.raises(
        ConfigError, match="FOOTFALL_RETENTION_AGGREGATES_DAYS=5 is shorter than FOOTFALL_RETENTION_EVENTS_DAYS=7"
    ):
        Settings.from_env({"FOOTFALL_RETENTION_AGGREGATES_DAYS": "5"})
    # Visitor tables may go before the aggregates (privacy), not before the raw events.
    assert Settings.from_env({"FOOTFALL_RETENTION_VISITORS_DAYS": "14"}).retention_visitors_days == 14
    with pytest.raises(ConfigError, match="raise FOOTFALL_RETENTION_VISITORS_DAYS or lower"):
        Settings.from_env({"FOOTFALL_RETENTION_VISITORS_DAYS": "3"})


@pytest.mark.slow
def test_the_retention_dag_purges_and_rolls_up_by_its_data_interval(dagbag, world, monkeypatch):
    for key, value in env_for(world["root"], world["dir"]).items():
        monkeypatch.setenv(key, value)
    run = dagbag.get_dag("footfall_retention").test(logical_date=PLUS_31)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    assert query(world["dir"], "select count(*) from events") == [(0,)]
    got, _ = rollups(world["dir"])
    assert got == {table: sorted(rows, key=repr) for table, rows in expected_rollups(world["daily"]).items()}


@pytest.mark.real_logs
def test_a_dry_run_prints_what_a_run_deletes_and_changes_nothing(world, monkeypatch, capsys):
    from warehouse.cli import main

    data_dir = world["dir"]
    for key, value in env_for(world["root"], data_dir).items():
        monkeypatch.setenv(key, value)
    before = snapshot(data_dir, STATE_TABLES), parquet_on_disk(data_dir)
    assert main(["retention", "--dry-run", "--now", PLUS_31.isoformat()]) == 0
    plan = capsys.readouterr().out
    assert "(a dry run: nothing is changed)" in plan
    assert (
        "raw events:         kept 7 days; would delete those before 2015-06-13 (UTC): 10,000 event(s) in 4 file(s),"
        " partitions: 4 day(s), 2015-05-17 .. 2015-05-20" in plan
    )
    assert "quarantine:         kept 7 days; would delete those before 2015-06-13 (UTC): 2 line(s) in 1 file(s)" in plan
    assert "would roll up 4 day(s), 2015-05-17 .. 2015-05-20 into the monthly tables" in plan
    assert "daily_traffic 4," in plan and "visitor tables:     kept 90 days" in plan
    assert (snapshot(data_dir, STATE_TABLES), parquet_on_disk(data_dir)) == before

    done = run_retention(world, PLUS_31)  # the real run does what the plan said
    assert (done["purge_raw"]["event_rows"], done["purge_raw"]["event_files"]) == (10_000, 4)
    assert done["roll_up"]["days"] == [d.isoformat() for d in DAYS]
    assert done["purge_aggregates"]["rows"]["daily_traffic"] == 4


WORDPRESS_DAYS = 34  # days with lines, 2016-02-20 .. 2016-03-28 as logged (America/New_York)


@pytest.mark.slow
@pytest.mark.real_logs
def test_a_2016_backfill_then_a_retention_run_keeps_every_day_of_daily_traffic(
    dagbag, footfall_env, monkeypatch, capsys
):
    """The scenario that lost history: a backfill of an old log, then the scheduler's retention
    run with today's clock. Raw events go (privacy); every daily row stays (by default)."""
    from airflow.models.dag import DagModel

    from warehouse.cli import main

    data_dir = footfall_env(
        FOOTFALL_LOG_GLOB=str(shared_log("wordpress_access3.log.gz")), FOOTFALL_TIMEZONE="America/New_York"
    )
    ingest_run = dagbag.get_dag("footfall_ingest").test(logical_date=dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC))
    assert ingest_run.state == "success"
    daily = snapshot(data_dir, retention.daily_aggregate_tables())
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = dagbag.get_dag("footfall_retention").test(logical_date=today)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]

    # Its first task logged (and returned) the plan before anything was deleted.
    plan = run.get_task_instance("plan").xcom_pull(task_ids="plan")
    assert "would delete those before" in plan and "206,860 event(s)" in plan
    assert "daily aggregates:   kept forever (FOOTFALL_RETENTION_AGGREGATES_DAYS is unset)" in plan
    assert query(data_dir, "select count(*) from events") == [(0,)]
    assert snapshot(data_dir, retention.daily_aggregate_tables()) == daily
    # Every day as logged, with GoAccess's hits (less the two lines it loses on 1 March,
    # test_goaccess_parity.test_wordpress_differences_explained).
    goaccess = json.loads(shared_log("goaccess/wordpress_access3.log.json").read_text())
    expected = {d["data"]: d["hits"]["count"] for d in goaccess["visitors"]["data"]}
    expected["20160301"] += 2
    got = dict(query(data_dir, "select strftime(day, '%Y%m%d'), hits from daily_traffic"))
    assert got == expected and len(got) == WORDPRESS_DAYS

    assert main(["summary"]) == 0
    printed = capsys.readouterr().out
    assert "lines parsed:        206,860" in printed and "hits:                206,860\n" in printed
    # A new Airflow home never runs the retention DAG until an operator unpauses it.
    assert DagModel.get_current("footfall_retention").is_paused is True
    assert DagModel.get_current("footfall_ingest").is_paused is False


@pytest.mark.real_logs
def test_export_reads_the_monthly_rollups_of_every_day(world, monkeypatch, capsys, tmp_path):
    from warehouse.cli import main

    for key, value in env_for(world["root"], world["dir"]).items():
        monkeypatch.setenv(key, value)
    run_retention(world, PLUS_8)
    run_retention(world, PLUS_31)  # every daily row rolled up, then deleted
    assert main(["export", "traffic_monthly", "--output", str(tmp_path / "monthly.csv")]) == 0
    with open(tmp_path / "monthly.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    (expected,) = expected_rollups(world["daily"])["traffic_monthly"]
    assert [{k: (dt.date.fromisoformat(v) if k == "month" else int(v)) for k, v in r.items()} for r in rows] == [
        expected
    ]
    assert main(["summary"]) == 0
    printed = capsys.readouterr().out
    assert "hits:                10,000 (10,000 of them in the monthly rollups of 4 day(s)" in printed
