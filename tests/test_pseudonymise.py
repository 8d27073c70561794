"""transforms.privacy.pseudonymise against its definition, computed row by row with keyed_hash."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import polars as pl
import pytest

from parsers.coded import CodedEvents
from transforms.privacy import KeyStore, client_ip_hashes, hash_user_ids, keyed_hash, keyed_hashes, pseudonymise

UTC = dt.UTC


@pytest.mark.parametrize("label", ["ua", "user", "é"])
def test_keyed_hashes_equal_keyed_hash_per_value(label):
    key = b"k" * 32
    values = ["192.0.2.1", "", None, "é \u2028 Mozilla/5.0", "x" * 300]
    keep = pl.Series([True, True, True, True, False])
    got = keyed_hashes(pl.Series(values, dtype=pl.String), key, label, keep=keep).to_list()
    assert got == [
        keyed_hash(key, label, v) if v is not None and k else None for v, k in zip(values, keep, strict=True)
    ]


def test_client_ip_hashes_are_null_for_missing_or_empty_addresses():
    key = b"k" * 32
    got = client_ip_hashes(pl.Series(["192.0.2.1", "", None, "2001:db8::1"]), key).to_list()
    assert got == [keyed_hash(key, "ip", "192.0.2.1"), None, None, keyed_hash(key, "ip", "2001:db8::1")]


def _events() -> pl.DataFrame:
    ts = [
        dt.datetime(2024, 3, 1, 3, 0, tzinfo=UTC),  # 2024-02-29 in Toronto
        dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 12, 5, tzinfo=UTC),
        dt.datetime(2024, 3, 2, 9, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 2, 9, 1, tzinfo=UTC),
        dt.datetime(2024, 3, 2, 9, 2, tzinfo=UTC),
    ]
    return pl.DataFrame(
        {
            "line_number": list(range(1, 7)),
            "ts": ts,
            "remote_addr": ["192.0.2.1", "192.0.2.1", "", None, "2001:db8::1", "192.0.2.1"],
            "user_agent": ["A" * 150, "A" * 150, "B", None, "B", "C"],
            "user_id": [None, "alice", "alice", None, "bob", ""],
            "session_id": [None, "s1", "s1", "s1", None, "s2"],
            "x_forwarded_for": [None] * 6,
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )


@pytest.mark.parametrize("timezone", ["UTC", "America/Toronto"])
@pytest.mark.parametrize("with_ua_id", [False, True])
def test_pseudonymise_matches_the_definitions_row_by_row(tmp_path, timezone, with_ua_id):
    keys = KeyStore(tmp_path, "a configured key")
    key = keys.hash_key()
    events = _events()
    coded = CodedEvents.encode(events)
    # An id already on the user-agent dimension (identify_user_agents') is kept as it is, not hashed again.
    enricher_ids = {"A" * 150: 7, "B": 8, "C": 9}
    if with_ua_id:
        agents = coded.dims["user_agent"]
        ids = pl.col("user_agent").replace_strict(enricher_ids, default=None, return_dtype=pl.Int64)
        coded = coded.with_dim("user_agent", agents.with_columns(ids.alias("user_agent_id")))
    out = pseudonymise(coded, keys, "site-a", timezone).decode().sort("line_number")

    assert not {"remote_addr", "user_id", "session_id", "x_forwarded_for"} & set(out.columns)
    tz = zoneinfo.ZoneInfo(timezone)
    for row, got in zip(events.iter_rows(named=True), out.iter_rows(named=True), strict=True):
        salt = keys.daily_salt(row["ts"].astimezone(tz).date())
        ip, ua, user, session = row["remote_addr"], row["user_agent"], row["user_id"], row["session_id"]
        assert got["client_ip_hash"] == (keyed_hash(key, "ip", ip) if ip else None)
        assert got["user_hash"] == (None if user is None else keyed_hash(key, "user", user))
        assert got["visitor_id"] == keyed_hash(salt, "site-a", ip, ua)
        assert got["session_hash"] == (None if session is None else keyed_hash(salt, "session", "site-a", session))
        expected_ua_id = enricher_ids.get(ua) if with_ua_id else (None if ua is None else keyed_hash(key, "ua", ua))
        assert got["user_agent_id"] == expected_ua_id
        assert got["user_agent"] == (None if ua is None else ua[:100])


def test_hash_user_ids_equals_keyed_hash_per_value():
    key = b"k" * 32
    ids = ["alice", "", None, "é \u2028 ü", "alice", "x" * 300]
    got = hash_user_ids(pl.Series(ids, dtype=pl.String), key).to_list()
    assert got == [None if v is None else keyed_hash(key, "user", v) for v in ids]
