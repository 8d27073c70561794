"""Two records run together on one physical line are split and each counted once.

A writer that loses a line end leaves a record cut off (its user agent without the closing
quote, in a real 13-year Apache log) followed at once by the next record. Both requests
happened: the whole record that follows is counted always, the cut-off one when its fields up to
the cut are whole (GoAccess counts it too: apache_logs line 8,899 is such a cut-off record, on a
line of its own, and GoAccess's total of 10,000 requests includes it).
"""

from __future__ import annotations

import datetime as dt
import functools
import json

import duckdb
import oracle_parser
import pytest
from conftest import excerpt_lines, shared_log
from oracle import read_hits
from parser_check import assert_matches_oracle

from warehouse import ingest
from warehouse.settings import Settings

# apache_logs' lines kept in tests/fixtures (1-60, 5849-5862, 8897-8901), by line number.
REAL = excerpt_lines("apache_logs_excerpt.log")
MAIN = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$http_x_forwarded_for"'
)


@functools.cache
def apache() -> list[bytes]:
    """The whole of apache_logs, line by line (with line ends)."""
    return shared_log("apache_logs").read_bytes().splitlines(keepends=True)


def fused(first: int, cut: int | None = None) -> bytes:
    """Real lines ``first`` and ``first + 1`` (1-based) on one line: the first cut to ``cut``
    bytes (None: whole but for its line end)."""
    line = REAL[first].rstrip(b"\n")
    return (line if cut is None else line[:cut]) + REAL[first + 1]


def ingest_log(footfall_env, tmp_path, data: bytes):
    log = tmp_path / "access.log"
    log.write_bytes(data)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(log), FOOTFALL_COUNT_CRAWLERS="true")
    settings = Settings.from_env()
    results = [ingest.parse_source(settings, u, "run-1", dt.date(2026, 11, 21)) for u in ingest.discover(settings)]
    committed = ingest.commit(settings, results, "run-1", dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
    ingest.aggregate(settings, committed["days"])
    return committed, duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)


@pytest.mark.real_logs
def test_the_real_cut_off_record_and_the_next_one_on_its_line_are_both_counted(footfall_env, tmp_path):
    # apache_logs as if line 8,899 (its user agent cut off, no closing quote) had lost its line
    # end too: it runs straight into line 8,900, "...bot.html180.76.5.152 - - [20/May/2015...".
    lines = apache()
    assert not lines[8898].rstrip(b"\n").endswith(b'"')
    data = b"".join(lines[:8898]) + fused(8899) + b"".join(lines[8900:])
    committed, con = ingest_log(footfall_env, tmp_path, data)
    assert (committed["lines_read"], committed["lines_parsed"], committed["lines_quarantined"]) == (9999, 9999, 0)

    # Every request of the log counted once: GoAccess's totals of the intact log, exactly.
    hits, size = con.execute("select sum(hits), sum(bytes) from daily_traffic").fetchone()
    goaccess = json.loads(shared_log("goaccess/apache_logs.json").read_text())["general"]
    assert (hits, size) == (goaccess["total_requests"], goaccess["bandwidth"]) == (10_000, 2_747_282_740)
    # Both records keep the physical line's number, with the values of the two real lines.
    rows = con.execute(
        "select ts, status, bytes_sent, path, user_agent from events where line_number = 8899 order by ts"
    ).fetchall()
    expected = sorted(read_hits(shared_log("apache_logs"))[8898:8900], key=lambda h: h.ts)
    assert [(r[0], r[1], r[2] or 0, r[3]) for r in rows] == [(h.ts, h.status, h.bytes, h.path) for h in expected]
    assert rows[0][4] == "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"
    assert (rows[1][1], rows[1][2]) == (200, None)  # robots.txt, logged with "-" for bytes


@pytest.mark.parametrize(
    ("first", "cut", "counted"),
    [
        (1, None, 2),  # a whole record whose line end was lost, then the next one
        (8899, None, 2),  # the real cut-off user agent, then the next record
        (20, 300, 2),  # cut inside the user agent: the fields up to it are whole
        (20, 200, 2),  # cut inside the referrer: counted too, without a user agent
        (20, 110, 1),  # cut inside the request line: no status, only the next record counts
        (20, 150, 0),  # cut inside the bytes, not a quoted value: not split, quarantined
    ],
)
@pytest.mark.real_logs
def test_a_line_of_two_records_gives_each_whole_record_once(footfall_env, tmp_path, first, cut, counted):
    offset = 0 if first < 200 else 8800
    lines = apache()[offset : offset + 200]
    i = first - 1 - offset
    lines[i : i + 2] = [fused(first, cut)]
    committed, con = ingest_log(footfall_env, tmp_path, b"".join(lines))
    parsed = 199 if counted else 198
    assert (committed["lines_read"], committed["lines_parsed"]) == (199, parsed)
    events = con.execute("select status, bytes_sent, ts from events where line_number = ? order by ts", [i + 1])
    real = read_hits(shared_log("apache_logs"))[first - 1 : first + 1]
    want = sorted(real[2 - counted :], key=lambda h: h.ts)
    assert [(s, b or 0, t) for s, b, t in events.fetchall()] == [(h.status, h.bytes, h.ts) for h in want]
    (hits,) = con.execute("select sum(hits) from daily_traffic").fetchone()
    assert hits == 198 + counted
    quarantined = con.execute("select line_number, reason from quarantine").fetchall()
    assert quarantined == ([] if counted else [(i + 1, "format_mismatch")])


@pytest.mark.parametrize(
    "line",
    [
        fused(1),
        fused(8899),
        fused(20, 300),
        fused(20, 200),
        fused(20, 110),
        fused(20, 150),
        fused(1).replace(b"83.149.9.216", b"2001:db8::1", 2),  # the following client is IPv6
        REAL[1].rstrip(b"\n")[:-1] + b'x.y.z - - [17/May/2015:10:05:43 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n',
        fused(1).rstrip(b"\n") + REAL[3],  # three records: not split
        fused(2)[:-30] + b"\n",  # the following record is not whole: not split
    ],
)
def test_run_together_lines_split_as_the_oracle_splits_them(line):
    assert_matches_oracle(line + REAL[6])


def test_a_record_cut_in_the_referrer_keeps_what_it_logged():
    chunk = assert_matches_oracle(fused(20, 200))
    assert chunk.quarantine.height == 0
    events = chunk.events.decode()
    first = events.filter(events.get_column("line_number") == 1).sort("ts").row(0, named=True)
    assert first["status"] == 200 and first["referrer"].startswith("http") and first["user_agent"] is None


def test_the_main_format_splits_a_record_cut_in_its_user_agent():
    line = (
        b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "Mozilla/5.0 (X11; Li'
        b'198.51.100.2 - - [10/Oct/2000:13:55:37 -0700] "GET /b HTTP/1.1" 404 7 "-" "curl/8" "203.0.113.1"\n'
    )
    events, quarantine = oracle_parser.parse(line, MAIN)
    assert quarantine == []
    assert [(e["remote_addr"], e["path"], e["status"], e["user_agent"], e["x_forwarded_for"]) for e in events] == [
        ("192.0.2.1", "/a", 200, "Mozilla/5.0 (X11; Li", None),
        ("198.51.100.2", "/b", 404, "curl/8", "203.0.113.1"),
    ]
    assert_matches_oracle(line, MAIN)
