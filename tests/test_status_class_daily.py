"""The status_class_daily model (transforms/models/sql/status_class_daily.sql): hits per day and
HTTP status class, checked against a plain-Python count of the real log's lines (tests/oracle.py),
with days in UTC and in another time zone; and a model added to the catalogue after a warehouse
was built is created and filled for every day already ingested."""

from __future__ import annotations

import collections
import datetime as dt
import zoneinfo

import pytest
from conftest import shared_log
from oracle import read_hits
from warehouse_queries import query

from warehouse import storage
from warehouse.aggregation import aggregate
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import discover
from warehouse.settings import Settings


def ingest(footfall_env, **values: str):
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")), **values)
    settings = Settings.from_env()
    job = ParseJob.from_settings(settings)
    results = [parse_source(job, unit, "run-1", dt.date(2026, 11, 21)) for unit in discover(settings)]
    aggregate(settings, commit(settings, results, "run-1")["days"])
    return data_dir


def expected(timezone: str) -> dict[tuple[dt.date, str], int]:
    """Hits per local day and status class, from the log's lines (crawlers too, as status_daily)."""
    zone = zoneinfo.ZoneInfo(timezone)
    return collections.Counter(
        (hit.ts.astimezone(zone).date(), f"{hit.status // 100}xx") for hit in read_hits(shared_log("apache_logs"))
    )


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_hits_per_day_and_status_class_match_an_independent_count(footfall_env, timezone):
    data_dir = ingest(footfall_env, FOOTFALL_TIMEZONE=timezone)
    rows = query(data_dir, "select day, status_class, hits from status_class_daily")
    assert {(day, cls): hits for day, cls, hits in rows} == expected(timezone)
    # The table's key is its grain, from the catalogue.
    (key,) = query(
        data_dir,
        "select constraint_column_names from duckdb_constraints()"
        " where table_name = 'status_class_daily' and constraint_type = 'PRIMARY KEY'",
    )
    assert key == (["day", "status_class"],)


def test_a_model_added_later_is_created_and_filled_for_the_days_already_ingested(footfall_env):
    data_dir = ingest(footfall_env)
    con = storage.connect(data_dir)
    con.execute("drop table status_class_daily")  # as a warehouse built before the model existed
    con.close()
    settings = Settings.from_env()
    aggregate(settings, [])  # the next rebuild, with nothing newly committed
    rows = query(data_dir, "select day, status_class, hits from status_class_daily")
    assert {(day, cls): hits for day, cls, hits in rows} == expected("UTC")
