"""Addresses inside requests are stored as ``<address>`` (FOOTFALL_REDACT_REQUEST_ADDRESSES, on by
default): what is and is not kept, as docs/operators/privacy.md states it, including the false positives
footfall accepts (version numbers shaped like IPv4 addresses)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from warehouse.aggregation import aggregate
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import discover
from warehouse.settings import ConfigError, Settings

HOST_FORMAT = (
    '$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent"'
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
LINES = [
    ("203.0.113.5", "/whatismyip?ip=198.51.100.23&lang=en", "-", FIREFOX),
    ("www.example.org:8080", "/geo/198.51.100.24", "http://198.51.100.25:8080/admin?x=1", FIREFOX),
    ("[2001:db8::1]", "/v6?addr=2001:db8::25", "https://[2001:db8::26]/", FIREFOX),
    ("www.example.org", "/landing?utm_source=198%2E51%2E100%2E27&utm_medium=mail", "-", FIREFOX),
    ("www.example.org", "/v1.2.3.4/docs", "-", "Debian APT-HTTP/1.3 (0.9.7.9)"),
    ("www.example.org", "/pod/LWP::Simple", "-", "LWP::Simple/6.15 libwww-perl/6.15"),
]


def ingest_lines(footfall_env, tmp_path, **env) -> duckdb.DuckDBPyConnection:
    """Ingest :data:`LINES` into a data dir of its own under ``tmp_path`` (the secrets are shared)."""
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'{host} 192.0.2.9 - - [19/May/2015:14:1{i}:00 +0000] "GET {target} HTTP/1.1" 200 5 "{ref}" "{agent}"\n'
            for i, (host, target, ref, agent) in enumerate(LINES)
        )
    )
    data_dir = tmp_path / "data"
    footfall_env(FOOTFALL_LOG_GLOB=str(log), FOOTFALL_LOG_FORMAT=HOST_FORMAT, FOOTFALL_DATA_DIR=str(data_dir), **env)
    settings = Settings.from_env()
    results = [
        parse_source(ParseJob.from_settings(settings), u, "run-1", dt.date(2026, 11, 21)) for u in discover(settings)
    ]
    aggregate(settings, commit(settings, results, "run-1", None)["days"])
    return duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)


COLUMNS = "host, path, query, referrer, referrer_domain, utm_source, user_agent"


def test_addresses_in_paths_queries_referrers_hosts_and_user_agents_are_stored_redacted(footfall_env, tmp_path):
    con = ingest_lines(footfall_env, tmp_path)
    rows = con.execute(f"select {COLUMNS} from events order by ts").fetchall()
    assert rows == [
        ("<address>", "/whatismyip", "ip=<address>&lang=en", None, None, None, FIREFOX),
        ("www.example.org:8080", "/geo/<address>", None, "http://<address>:8080/admin?x=1", "<address>", None, FIREFOX),
        ("[<address>]", "/v6", "addr=<address>", "https://[<address>]/", "[<address>]", None, FIREFOX),
        # Percent-encoded in the query as logged; the UTM tag is decoded, then redacted.
        (
            "www.example.org",
            "/landing",
            "utm_source=198%2E51%2E100%2E27&utm_medium=mail",
            None,
            None,
            "<address>",
            FIREFOX,
        ),  # fmt: skip
        # The decision: anything shaped like an address goes, version numbers too.
        ("www.example.org", "/v<address>/docs", None, None, None, None, "Debian APT-HTTP/1.3 (<address>)"),
        # A bare "::" is no one's address: Perl and C++ names are kept.
        ("www.example.org", "/pod/LWP::Simple", None, None, None, None, "LWP::Simple/6.15 libwww-perl/6.15"),
    ]
    pages = sorted(r[0] for r in con.execute("select path from page_daily").fetchall())
    assert pages == ["/geo/<address>", "/landing", "/v6", "/whatismyip"]  # APT and LWP are not browsers
    domains = {r[0] for r in con.execute("select referrer_domain from referrers_daily").fetchall()}
    assert domains == {"", "<address>", "[<address>]"}  # "" stands for no referrer domain


def test_ids_and_user_agent_classes_are_those_of_the_requests_as_sent(footfall_env, tmp_path):
    """Redaction comes after hashing and classification: turning it off changes only the text."""
    columns = (
        "line_number, user_agent_id, visitor_id, browser_family, os_family, device_type, is_crawler, referrer_class"
    )
    redacted = ingest_lines(footfall_env, tmp_path / "on").execute(f"select {columns} from events").fetchall()
    kept = ingest_lines(footfall_env, tmp_path / "off", FOOTFALL_REDACT_REQUEST_ADDRESSES="false")
    assert sorted(redacted) == sorted(kept.execute(f"select {columns} from events").fetchall())


def test_the_setting_off_keeps_requests_as_logged(footfall_env, tmp_path):
    con = ingest_lines(footfall_env, tmp_path, FOOTFALL_REDACT_REQUEST_ADDRESSES="false")
    rows = con.execute("select host, path, query, referrer_domain, user_agent from events order by ts").fetchall()
    assert rows[:2] == [
        ("203.0.113.5", "/whatismyip", "ip=198.51.100.23&lang=en", None, FIREFOX),
        ("www.example.org:8080", "/geo/198.51.100.24", None, "198.51.100.25", FIREFOX),
    ]
    assert rows[4] == ("www.example.org", "/v1.2.3.4/docs", None, None, "Debian APT-HTTP/1.3 (0.9.7.9)")


def test_a_malformed_setting_fails_fast(footfall_env):
    footfall_env(FOOTFALL_REDACT_REQUEST_ADDRESSES="sometimes")
    with pytest.raises(ConfigError, match="FOOTFALL_REDACT_REQUEST_ADDRESSES='sometimes' is not a boolean"):
        Settings.from_env()
    footfall_env(FOOTFALL_REDACT_REQUEST_ADDRESSES="true", FOOTFALL_FUTURE_TOLERANCE_S="-1")
    with pytest.raises(ConfigError, match="FOOTFALL_FUTURE_TOLERANCE_S='-1' must be 0 or more"):
        Settings.from_env()
