"""Property-based tests: whatever bytes a log holds, every line is parsed or quarantined, once
(or, for a file that is mostly binary, the whole file is one quarantined entry, once).

(a) Arbitrary bytes (NUL, invalid UTF-8, lone ``\\r``, lines over ``MAX_LINE_BYTES``, no final
newline) written to a log file and ingested with the real discover / parse_source / commit.
(b) Real lines from ../shared/data/real, mutated (characters deleted, inserted or replaced,
two lines fused, lines truncated), fed to ``parse_lines``.

Hypothesis runs derandomized (the examples are a function of the test code), without an
example database, so CI sees the same cases on every run; the whole file takes a few seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import os
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
from conftest import shared_log
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parsers.access_log import MAX_LINE_BYTES, parse_lines
from parsers.log_format import compile_log_format
from warehouse import ingest
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


@functools.cache
def real_lines(name: str) -> tuple[bytes, ...]:
    """The first 2,000 lines of a real log, without their newlines."""
    data = shared_log(name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return tuple(data.split(b"\n", 2000)[:2000])


# -- (a) arbitrary bytes through the real ingest -----------------------------------------------

_pieces = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\n", b"\r\n", b"\r", b"\x00", b"\xff\xfe", b"\xc3", b"\xe2\x82", b" ", b"\t", b'"', b"\\x"]),
    st.integers(0, 1999).map(lambda i: real_lines("nginx_logs")[i] + b"\n"),
    st.integers(0, 1999).map(lambda i: real_lines("apache_logs")[i]),  # maybe without its newline
    st.sampled_from([b"A" * (MAX_LINE_BYTES + 1), b"\x00" * 5000, b"\n" * 300]),  # very long runs
)
log_bytes = st.lists(_pieces, max_size=25).map(b"".join)


def expected_lines(data: bytes) -> int:
    """Lines in a file, counting an unterminated last line."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


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
        plans = ingest.discover(s)
        results = [ingest.parse_source(s, p, "run-1", dt.date(2026, 11, 21)) for p in plans]
        committed = ingest.commit(s, results, "run-1", dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
        ingest.aggregate(s, committed["days"])

        con = duckdb.connect(str(tmp / "data" / "warehouse.duckdb"), read_only=True)
        try:
            numbers = [r[0] for r in con.execute("select line_number from events").fetchall()]
            reasons = [r[0] for r in con.execute("select reason from quarantine").fetchall()]
            numbers += [r[0] for r in con.execute("select line_number from quarantine").fetchall()]
            (bad_events,) = con.execute("select count(*) from events where ts is null or status is null").fetchone()
            sources = con.execute("select committed_offset, committed_lines from ingest_sources").fetchall()
        finally:
            con.close()
        counts = (committed["lines_read"], committed["lines_parsed"], committed["lines_quarantined"])
        if reasons == ["not_text"]:
            # A file that is mostly binary is rejected whole, once (docs/operations.md): more than
            # a tenth of its first KiB are control characters or bytes that are not UTF-8.
            head = data[:1024].decode("utf-8", "replace")
            junk = sum(c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\f") for c in head)
            assert junk * 10 > len(head)
            assert counts == (1, 0, 1) and numbers == [1] and sources == [(len(data), 0)]
            return
        n = expected_lines(data)
        assert counts[0] == counts[1] + counts[2] == n
        assert sorted(numbers) == list(range(1, n + 1))
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

    numbers = chunk.events.get_column("line_number").to_list() + chunk.quarantine.get_column("line_number").to_list()
    assert sorted(numbers) == list(range(1, len(lines) + 1))
    assert chunk.events.get_column("ts").null_count() == 0
    assert chunk.events.get_column("status").null_count() == 0
    # Quarantined lines are kept exactly as they came in.
    for number, line in chunk.quarantine.select("line_number", "line").iter_rows():
        assert line == lines[number - 1]
