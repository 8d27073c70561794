"""Property-based tests: whatever bytes a log holds, every line is parsed or quarantined, once
(or, for a file that is mostly binary, the whole file is one quarantined entry, once).

(a) Arbitrary bytes (NUL, invalid UTF-8, lone ``\\r``, lines over ``MAX_LINE_BYTES``, no final
newline) written to a log file and ingested with the real discover / parse_source / commit.
(b) Real lines (the excerpts in tests/fixtures), mutated (characters deleted, inserted or replaced,
two lines fused, lines truncated), fed to ``parse_lines``.

(c) Lines built from random text, escapes, quotes, control characters, timestamps (some in the
future) and embedded IPv4/IPv6 addresses in every field, for nginx ``combined``, ``main`` (with
``$http_x_forwarded_for``) and a JSON template, through the production parse of a work unit
(``parse_source``: fast path, reference parser, redaction, pseudonymisation, Parquet).

A line is in exactly one of events or quarantine; a line holding two records run together
(two lines fused) gives two events (parsers/run_together.py).

Hypothesis runs derandomized (the examples are a function of the test code), without an
example database, so CI sees the same cases on every run; the whole file takes a few seconds.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
from conftest import fixture_log
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_privacy import _AddressFinder, addresses_in

from parsers.access_log import MAX_LINE_BYTES, parse_lines
from parsers.log_format import compile_log_format
from warehouse.aggregation import aggregate
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import WorkUnit, discover
from warehouse.ingest.sources import SourcePlan
from warehouse.settings import Settings

DETERMINISTIC = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

JSON_TEMPLATE = (
    '{"time": "$time_local", "remote_ip": "$remote_addr", "remote_user": "$remote_user", '
    '"request": "$request", "response": $status, "bytes": $body_bytes_sent, '
    '"referrer": "$http_referer", "agent": "$http_user_agent"}'
)


EXCERPTS = {
    "apache_logs": "apache_logs_excerpt.log",
    "nginx_logs": "nginx_logs_excerpt.log",
    "nginx_json_logs.gz": "nginx_json_excerpt.log",
}


@functools.cache
def real_lines(name: str) -> tuple[bytes, ...]:
    """The lines of a real log's excerpt in tests/fixtures, without their newlines."""
    return tuple(fixture_log(EXCERPTS[name]).read_bytes().splitlines())


# -- (a) arbitrary bytes through the real ingest -----------------------------------------------

_pieces = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\n", b"\r\n", b"\r", b"\x00", b"\xff\xfe", b"\xc3", b"\xe2\x82", b" ", b"\t", b'"', b"\\x"]),
    st.sampled_from(real_lines("nginx_logs")).map(lambda line: line + b"\n"),
    st.sampled_from(real_lines("apache_logs")),  # maybe without its newline
    st.sampled_from([b"A" * (MAX_LINE_BYTES + 1), b"\x00" * 5000, b"\n" * 300]),  # very long runs
)
log_bytes = st.lists(_pieces, max_size=25).map(b"".join)


def expected_lines(data: bytes) -> int:
    """Lines in a file, counting an unterminated last line."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def assert_each_line_once(event_lines: list[int], quarantined_lines: list[int], n: int) -> None:
    """Lines 1..n are each in exactly one of events (one event, or two for two records run
    together on one line) or quarantine (once)."""
    per_line = collections.Counter(event_lines)
    assert max(per_line.values(), default=1) <= 2
    assert len(set(quarantined_lines)) == len(quarantined_lines)
    assert not per_line.keys() & set(quarantined_lines)
    assert sorted([*per_line, *quarantined_lines]) == list(range(1, n + 1))


@settings(max_examples=12, **DETERMINISTIC)
@given(data=log_bytes, chunk_bytes=st.sampled_from([64, 4096, 8 * 1024 * 1024]))
# The edge cases named in the docstring, always tried whatever Hypothesis draws.
@example(data=b"\x00\xff\xfe\r\rline\r\n" + b"B" * (MAX_LINE_BYTES + 10) + b"\n\n \x00", chunk_bytes=64)
@example(data=real_lines("nginx_logs")[0] + b"\n" + real_lines("apache_logs")[0][:40], chunk_bytes=4096)
def test_any_bytes_are_ingested_line_by_line_without_error(data, chunk_bytes):
    with tempfile.TemporaryDirectory(prefix="footfall-prop-") as tmp:
        tmp = Path(tmp)
        log = tmp / "access.log"
        log.write_bytes(data)
        idle = time.time() - 600  # writer idle for 10 minutes: the unterminated tail is read too
        os.utime(log, (idle, idle))
        env = {
            "FOOTFALL_LOG_GLOB": str(log),
            "FOOTFALL_DATA_DIR": str(tmp / "data"),
            "FOOTFALL_SECRETS_DIR": str(tmp / "secrets"),
            "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
            "FOOTFALL_CHUNK_BYTES": str(chunk_bytes),
            # Junk is rejected by the reject rate (tested in test_ingest.py); here every read commits.
            "FOOTFALL_MAX_REJECT_RATE": "1",
        }
        s = Settings.from_env(env)
        plans = discover(s)
        results = [parse_source(ParseJob.from_settings(s), p, "run-1", dt.date(2026, 11, 21)) for p in plans]
        committed = commit(s, results, "run-1", dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
        aggregate(s, committed["days"])

        con = duckdb.connect(str(tmp / "data" / "warehouse.duckdb"), read_only=True)
        try:
            events = [r[0] for r in con.execute("select line_number from events").fetchall()]
            quarantined = [r[0] for r in con.execute("select line_number from quarantine").fetchall()]
            reasons = [r[0] for r in con.execute("select reason from quarantine").fetchall()]
            (bad_events,) = con.execute("select count(*) from events where ts is null or status is null").fetchone()
            sources = con.execute("select committed_offset, committed_lines from ingest_sources").fetchall()
        finally:
            con.close()
        counts = (committed["lines_read"], committed["lines_parsed"], committed["lines_quarantined"])
        if reasons == ["not_text"]:
            # A file that is mostly binary is rejected whole, once (docs/operators/operations.md): more than
            # a tenth of its first KiB are control characters or bytes that are not UTF-8.
            head = data[:1024].decode("utf-8", "replace")
            junk = sum(c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\f") for c in head)
            assert junk * 10 > len(head)
            assert counts == (1, 0, 1) and events == [] and quarantined == [1] and sources == [(len(data), 0)]
            return
        n = expected_lines(data)
        assert counts[0] == counts[1] + counts[2] == n
        assert_each_line_once(events, quarantined, n)
        assert len(set(events)) == committed["lines_parsed"]
        assert bad_events == 0
        assert sources == ([(len(data), n)] if data else [])


# -- (b) mutated real lines through parse_lines ------------------------------------------------

FORMATS = {
    "apache_logs": "combined",
    "nginx_logs": "combined",
    "nginx_json_logs.gz": JSON_TEMPLATE,
}
# Inserted text: anything but a newline (a line never holds one), including NUL, \r, quotes,
# brackets, backslashes and non-ASCII.
_insert_text = st.text(
    st.one_of(st.sampled_from('"[]\\ -:/{}\r\x00é€'), st.characters(exclude_characters="\n")), max_size=8
)


@st.composite
def mutated_lines(draw) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(sorted(FORMATS)))
    source = real_lines(name)
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        i = draw(st.integers(0, len(source) - 2))
        line = source[i].decode("utf-8", "backslashreplace")
        op = draw(st.sampled_from(["keep", "delete", "insert", "replace", "fuse", "truncate"]))
        pos = draw(st.integers(0, len(line)))
        if op == "delete":
            line = line[:pos] + line[pos + draw(st.integers(1, 10)) :]
        elif op == "insert":
            line = line[:pos] + draw(_insert_text) + line[pos:]
        elif op == "replace":
            line = line[:pos] + draw(_insert_text) + line[pos + 1 :]
        elif op == "fuse":
            line = line + source[i + 1].decode("utf-8", "backslashreplace")
        elif op == "truncate":
            line = line[:pos]
        lines.append(line)
    return FORMATS[name], lines


@settings(max_examples=200, **DETERMINISTIC)
@given(case=mutated_lines())
def test_mutated_real_lines_are_each_parsed_or_quarantined_once(case):
    fmt, lines = case
    frame = pl.DataFrame(
        {"line_number": list(range(1, len(lines) + 1)), "line": lines},
        schema={"line_number": pl.Int64, "line": pl.String},
    )
    chunk = parse_lines(frame, compile_log_format(fmt))

    events, quarantined = chunk.events.get_column("line_number"), chunk.quarantine.get_column("line_number")
    assert_each_line_once(events.to_list(), quarantined.to_list(), len(lines))
    assert chunk.events.get_column("ts").null_count() == 0
    assert chunk.events.get_column("status").null_count() == 0
    # Quarantined lines are kept exactly as they came in.
    for number, line in chunk.quarantine.select("line_number", "line").iter_rows():
        assert line == lines[number - 1]


# -- (c) the boundary: hostile lines through the production parse of a work unit ---------------

MAIN = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$http_x_forwarded_for"'
)
JSON_WITH_HOST = JSON_TEMPLATE[:-1] + ', "host": "$host"}'
FUZZ_FORMATS = {"combined": "combined", "main": MAIN, "json": JSON_WITH_HOST}
READ_AT = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)

_addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["198.51.100.23", "2001:db8::25", "::ffff:192.0.2.1", "fe80::1", "10.0.0.1"]),
)
# Pieces of a logged value: text, the format's own delimiters, both escaping styles, control
# characters (raw and escaped), non-ASCII, and addresses. Never a newline: a line holds none.
_pieces = st.one_of(
    st.text(st.characters(exclude_characters="\n", codec="utf-8"), max_size=6),
    st.sampled_from(['"', "\\", '\\"', "\\x22", "\\x00", "\x00", "\x1b[1m", "\t", "\r", " ", "-", "[", "]"]),
    st.sampled_from(["/", "?", "=", "&", ":", ".", "%2E", "é", "\u2028", "{", "}", "'"]),
    _addresses,
)
_values = st.lists(_pieces, max_size=4).map("".join)


@st.composite
def _times(draw) -> str:
    moment = draw(
        st.sampled_from(
            [
                dt.datetime(2015, 5, 17, 10, 5, 3),
                READ_AT.replace(tzinfo=None) + dt.timedelta(hours=23),  # within the tolerance
                dt.datetime(2099, 12, 31, 23, 59, 59),  # far in the future: quarantined
            ]
        )
        | st.datetimes(dt.datetime(1999, 1, 1), dt.datetime(2027, 1, 1))
    )
    offset = draw(st.sampled_from(["+0000", "-0500", "+0530"]))
    valid = moment.strftime(f"%d/%b/%Y:%H:%M:%S {offset}")
    return draw(st.sampled_from([valid, valid, valid, "31/Feb/2015:10:05:03 +0000"]) | _values.filter(bool))


@st.composite
def _record(draw, fmt: str) -> str:
    path = "/" + draw(_values)
    query = draw(st.sampled_from(["", "?ip=", "?utm_source=", "?a=1&addr="])) + draw(_values)
    fields = {
        "remote_addr": draw(_addresses),
        "remote_user": draw(st.sampled_from(["-", "-", "-", "bob"]) | _values),
        "time_local": draw(_times()),
        "request": draw(st.sampled_from(["GET", "POST", "-"])) + " " + path + query + " HTTP/1.1",
        "status": draw(st.sampled_from(["200", "200", "304", "404", "2OO"])),
        "body_bytes_sent": draw(st.sampled_from(["0", "512", "-", "x"])),
        "http_referer": draw(st.one_of(st.just("-"), _values.map(lambda v: "http://" + v), _values)),
        "http_user_agent": draw(_values),
        "http_x_forwarded_for": draw(st.lists(_addresses, max_size=3).map(", ".join)),
        "host": draw(st.one_of(_addresses, _values)),
    }
    if fmt == "json":
        fields["status"] = int(fields["status"]) if fields["status"].isdigit() else fields["status"]
        keys = {"time": "time_local", "remote_ip": "remote_addr", "remote_user": "remote_user", "request": "request",
                "response": "status", "bytes": "body_bytes_sent", "referrer": "http_referer",
                "agent": "http_user_agent", "host": "host"}  # fmt: skip
        return json.dumps({key: fields[name] for key, name in keys.items()}, ensure_ascii=draw(st.booleans()))
    compiled = compile_log_format(FUZZ_FORMATS[fmt])
    # Values as nginx writes them inside quotes: '"' and '\' escaped (sometimes left raw: hostile).
    escape = draw(st.sampled_from([True, True, True, False]))
    parts = [compiled.literals[0]]
    for name, literal in zip(compiled.variables, compiled.literals[1:], strict=True):
        value = fields[name]
        if escape:
            value = value.replace("\\", "\\x5C").replace('"', "\\x22")
        parts += [value, literal]
    return "".join(parts)


@st.composite
def hostile_logs(draw) -> tuple[str, list[str]]:
    fmt = draw(st.sampled_from(sorted(FUZZ_FORMATS)))
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        line = draw(_record(fmt))
        op = draw(st.sampled_from(["keep"] * 5 + ["truncate", "fuse", "fuse", "insert"]))
        if op == "truncate":
            line = line[: draw(st.integers(0, len(line)))]
        elif op == "fuse":  # a line end lost: the next record follows on the same line
            line = line[: draw(st.integers(0, len(line)))] + draw(_record(fmt))
        elif op == "insert":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(_values) + line[at:]
        lines.append(line.replace("\n", " "))
    return fmt, lines


# Lines that once went wrong: a date in 2099, addresses inside requests, a NUL in a user agent,
# a user agent cut off and run into the next record.
KNOWN_HOSTILE_LINES = [
    '203.0.113.17 - - [31/Dec/2099:23:59:59 +0000] "GET /future HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    '198.51.100.23 - - [19/May/2015:14:10:00 +0000] "GET /whatismyip?ip=198.51.100.23 HTTP/1.1" 200 5 "-" '
    '"Moz\x00illa"',
    '198.51.100.24 - - [19/May/2015:14:11:00 +0000] "GET /geo/198.51.100.24 HTTP/1.1" 200 5 '
    '"http://198.51.100.25:8080/admin" "Mozilla/5.0 (Windows NT 5.1; rv:6.0.2'
    '2001:db8::25 - - [19/May/2015:14:12:00 +0000] "GET /v6?addr=2001:db8::25 HTTP/1.1" 200 5 "-" "curl/8.0"',
]


@settings(max_examples=60, **DETERMINISTIC)
@given(case=hostile_logs(), chunk_bytes=st.sampled_from([256, 8 * 1024 * 1024]))
@example(case=("combined", KNOWN_HOSTILE_LINES), chunk_bytes=256)
def test_hostile_lines_are_each_stored_once_and_no_address_survives(case, chunk_bytes):
    fmt, lines = case
    with tempfile.TemporaryDirectory(prefix="footfall-fuzz-") as tmp:
        tmp = Path(tmp)
        log = tmp / "access.log"
        log.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
        env = {
            "FOOTFALL_LOG_GLOB": str(log),
            "FOOTFALL_LOG_FORMAT": FUZZ_FORMATS[fmt],
            "FOOTFALL_DATA_DIR": str(tmp / "data"),
            "FOOTFALL_SECRETS_DIR": str(tmp / "secrets"),
            "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
            "FOOTFALL_CHUNK_BYTES": str(chunk_bytes),
        }
        s = Settings.from_env(env)
        # The unit plan_units gives a new file (planning opens the warehouse: a second per example).
        size = log.stat().st_size
        plan = SourcePlan(str(log), "fuzz", "fuzz", min(size, 1024), False, size, 0, 0)
        result = parse_source(
            ParseJob.from_settings(s), WorkUnit(plan, 0, 0, None, 0), "run-1", READ_AT.date(), now=READ_AT
        )
        tables = {kind: [] for kind in ("events", "quarantine")}
        for f in result["files"]:
            if f["kind"] in tables:
                tables[f["kind"]].append(pq.read_table(s.data_dir / f["staged"]))
        events = [n for t in tables["events"] for n in t.column("line_number").to_pylist()]
        quarantined = [n for t in tables["quarantine"] for n in t.column("line_number").to_pylist()]
        assert_each_line_once(events, quarantined, len(lines))
        assert result["lines_read"] == result["lines_parsed"] + result["lines_quarantined"] == len(lines)

        finder = _AddressFinder(addresses_in(lines))
        for table in tables["events"] + tables["quarantine"]:
            for column in table.column_names:
                if str(table.schema.field(column).type) != "string":
                    continue
                for value in table.column(column).to_pylist():
                    assert value is None or not finder.search(value), (column, value)
                    assert value is None or not any(c < " " and c != "\t" for c in value), (column, value)
        if tables["events"]:
            ts = [t for table in tables["events"] for t in table.column("ts").to_pylist()]
            assert max(ts) <= READ_AT + dt.timedelta(days=1)


def test_control_characters_reach_no_stored_string(footfall_env, tmp_path):
    """A NUL in a user agent (raw, and as nginx escapes it), a terminal escape in a
    referrer, and a quarantined line with a NUL: all stored as \\xNN text."""
    log = tmp_path / "access.log"
    log.write_bytes(
        b'192.0.2.1 - - [19/May/2015:14:10:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "Moz\x00illa/5.0"\n'
        b'192.0.2.2 - - [19/May/2015:14:11:00 +0000] "GET /b HTTP/1.1" 200 5 "http://x/\x1b[2J" "Moz\\x00illa/5.0"\n'
        b"not a log line \x00\x07 at all\n"
    )
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log))
    s = Settings.from_env()
    results = [parse_source(ParseJob.from_settings(s), u, "run-1", dt.date(2026, 11, 21)) for u in discover(s)]
    commit(s, results, "run-1", None)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        events = con.execute("select user_agent, referrer from events order by line_number").fetchall()
        quarantined = con.execute("select line from quarantine").fetchall()
    finally:
        con.close()
    assert events == [("Moz\\x00illa/5.0", None), ("Moz\\x00illa/5.0", "http://x/\\x1b[2J")]
    assert quarantined == [("not a log line \\x00\\x07 at all",)]
