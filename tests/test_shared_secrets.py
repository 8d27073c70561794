"""Work units parsed on several hosts: one secrets dir keeps each visitor one visitor.

The daily salt is created on first use in FOOTFALL_SECRETS_DIR/salts/. Here one log's work
units are parsed by two "hosts" (two Settings, as two Celery workers would build them), once
with one shared secrets dir and once with a secrets dir each. The visitor ids are checked
against an independent count (tests/oracle.py reads the log with its own regular expression):
distinct visitor ids of a day = distinct (client address, user agent) pairs of that day.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from conftest import shared_log
from oracle import read_hits

from transforms.privacy import KeyStore
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import discover
from warehouse.settings import Settings
from warehouse.shared_secrets import SecretsNotShared, check_shared_secrets

pytestmark = pytest.mark.real_logs

END = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def log():
    return shared_log("apache_logs")  # 10,000 lines over 4 days, ~2.3 MB


@pytest.fixture(scope="module")
def expected_visitors(log) -> dict[dt.date, int]:
    pairs: dict[dt.date, set] = {}
    for hit in read_hits(log):
        pairs.setdefault(hit.ts.date(), set()).add((hit.ip, hit.user_agent))
    return {day: len(p) for day, p in pairs.items()}


def two_hosts(tmp_path, log, shared: bool) -> tuple[list[dict], list[dict], Settings]:
    """Plan the log into units, parse them alternately on two hosts; returns (units, results,
    the warehouse host's settings)."""
    env = {
        "FOOTFALL_LOG_GLOB": str(log),
        "FOOTFALL_DATA_DIR": str(tmp_path / "data"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        "FOOTFALL_MAP_CHUNK_BYTES": "400000",
    }
    base = Settings.from_env({**env, "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets")})
    hosts = [base] if shared else [base.replace(secrets_dir=tmp_path / f"secrets-{h}") for h in "ab"]
    units = discover(base)
    assert len(units) >= 4
    results = [
        parse_source(ParseJob.from_settings(hosts[i % len(hosts)]), unit, "run-1", END.date())
        for i, unit in enumerate(units)
    ]
    return [u.to_dict() for u in units], results, hosts[0]


def visitors_per_day(settings: Settings) -> dict[dt.date, int]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("select event_date, count(distinct visitor_id) from events group by 1").fetchall()
    finally:
        con.close()
    return dict(rows)


def test_units_parsed_on_two_hosts_with_one_secrets_dir_count_each_visitor_once(tmp_path, log, expected_visitors):
    units, results, warehouse_host = two_hosts(tmp_path, log, shared=True)
    check_shared_secrets(KeyStore(warehouse_host.secrets_dir, warehouse_host.hash_key), results)
    commit(warehouse_host, results, "run-1", END, planned=units)
    assert visitors_per_day(warehouse_host) == expected_visitors


def test_units_parsed_with_a_secrets_dir_per_host_are_refused_before_commit(tmp_path, log, expected_visitors):
    units, results, warehouse_host = two_hosts(tmp_path, log, shared=False)
    with pytest.raises(SecretsNotShared) as refused:
        check_shared_secrets(KeyStore(warehouse_host.secrets_dir, warehouse_host.hash_key), results)
    message = str(refused.value)
    # Every day some unit parsed on host b (not the warehouse host) is named; a day parsed on
    # host a only has one salt, the warehouse host's, and is fine.
    on_b = {day for i, r in enumerate(results) if i % 2 for day in r["salts"]}
    named = {day for day in (d.isoformat() for d in expected_visitors) if f"  {day}: " in message}
    assert named == on_b and len(on_b) >= 3
    assert "2 salt(s) in the units" in message
    assert "FOOTFALL_SECRETS_DIR" in message and "docs/operators/scaling.md" in message
    # What the check prevents: committed anyway, every visitor seen by both hosts counts twice.
    commit(warehouse_host, results, "run-1", END, planned=units)
    split = visitors_per_day(warehouse_host)
    assert all(split[day] >= n for day, n in expected_visitors.items())
    assert sum(split.values()) > sum(expected_visitors.values())


def test_another_hash_key_on_one_host_is_refused(tmp_path, log):
    units, results, warehouse_host = two_hosts(tmp_path, log, shared=True)
    elsewhere = KeyStore(warehouse_host.secrets_dir, "another-key")
    with pytest.raises(SecretsNotShared, match="the warehouse host has another"):
        check_shared_secrets(elsewhere, results)
