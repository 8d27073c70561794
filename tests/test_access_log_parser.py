"""parse_lines: hand-written lines (one test per rule) and real lines.

The real lines come from the excerpts in tests/fixtures (by their line numbers in the whole
logs); the same checks on the whole logs in ../shared/data/real are marked ``real_logs``.

Expected values are written by hand, or computed from the raw text with Python's ``re``,
``codecs`` and ``ipaddress``, never with footfall's own code.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import ipaddress
import re

import polars as pl
import pytest
from conftest import excerpt_lines, shared_log
from polars.testing import assert_frame_equal

from parsers.access_log import PARSED_SCHEMA, QUARANTINE_SCHEMA, ParsedChunk, parse_lines
from parsers.fast_path import as_utf8
from parsers.log_format import compile_log_format

UTC = dt.UTC


def frame(lines: list[str], first_line: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_number": list(range(first_line, first_line + len(lines))), "line": lines},
        schema={"line_number": pl.Int64, "line": pl.String},
    )


def parse(lines: list[str], fmt: str = "combined", first_line: int = 1):
    return parse_lines(frame(lines, first_line), compile_log_format(fmt))


def only_event(chunk) -> dict:
    assert chunk.quarantine.height == 0, chunk.quarantine.rows()
    assert chunk.events.height == 1
    return chunk.events.row(0, named=True)


def combined(request: str = "GET / HTTP/1.1", referrer: str = "-", agent: str = "-", time: str = "") -> str:
    time = time or "10/Oct/2015:13:55:36 +0000"
    return f'192.0.2.10 - - [{time}] "{request}" 200 512 "{referrer}" "{agent}"'


# The excerpt in tests/fixtures of each real log, and the excerpt's copy of its source.
EXCERPTS = {
    "apache_logs": "apache_logs_excerpt.log",
    "nginx_logs": "nginx_logs_excerpt.log",
    "nginx_json_logs.gz": "nginx_json_excerpt.log",
    "wordpress_access3.log.gz": "wordpress_excerpt.log",
}
# Each check runs on the excerpt (the unit tier) and on the whole log (real_logs).
SOURCES = [pytest.param("excerpt"), pytest.param("whole", marks=pytest.mark.real_logs)]


def log_lines(name: str, source: str) -> dict[int, bytes]:
    """A real log's lines, without their line ends, by line number: the excerpt or the whole log."""
    if source == "excerpt":
        return {n: line.rstrip(b"\n") for n, line in excerpt_lines(EXCERPTS[name]).items()}
    data = shared_log(name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    assert data.endswith(b"\n")
    return dict(enumerate(data[:-1].split(b"\n"), 1))


def log_frame(lines: dict[int, bytes]) -> pl.DataFrame:
    """parse_lines' input, each line decoded as warehouse/ingest/chunks.py reads a chunk."""
    data = b"".join(line + b"\n" for line in lines.values())
    frame = pl.read_lines(io.BytesIO(as_utf8(data)))
    return frame.select(pl.Series("line_number", list(lines), dtype=pl.Int64), "line")


# -- output contract -------------------------------------------------------------------------


def test_output_schemas():
    chunk = parse([combined(), "not a log line"])
    assert chunk.events.schema == pl.Schema(PARSED_SCHEMA)
    assert chunk.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)


def test_combined_line_all_columns():
    event = only_event(
        parse(
            [
                '203.0.113.7 - alice [10/Oct/2015:13:55:36 +0000] "GET /a/b?c=1&d=2 HTTP/1.1" 404 2326 '
                '"http://example.com/start" "Mozilla/5.0 (X11; Linux x86_64)"'
            ]
        )
    )
    assert event == {
        "line_number": 1,
        "remote_addr": "203.0.113.7",
        "ts": dt.datetime(2015, 10, 10, 13, 55, 36, tzinfo=UTC),
        "utc_offset_minutes": 0,
        "method": "GET",
        "path": "/a/b",
        "query": "c=1&d=2",
        "protocol": "HTTP/1.1",
        "status": 404,
        "bytes_sent": 2326,
        "referrer": "http://example.com/start",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "user_id": "alice",
        "session_id": None,
        "host": None,
        "request_time": None,
        "x_forwarded_for": None,
    }


def test_dash_values_become_null():
    event = only_event(parse(['- - - [10/Oct/2015:13:55:36 +0000] "GET / HTTP/1.1" 304 - "-" "-"']))
    assert (event["remote_addr"], event["user_id"], event["bytes_sent"]) == (None, None, None)
    assert (event["referrer"], event["user_agent"]) == (None, None)


# -- escaping --------------------------------------------------------------------------------


def test_nginx_hex_escapes():
    # nginx (escape=default) writes '"', '\' and bytes outside 32..126 as \xXX.
    event = only_event(
        parse(
            [
                combined(
                    request=r"GET /caf\xC3\xA9?q=\x22x\x22 HTTP/1.1",
                    referrer=r"http://example.com/\x5Cwin\x5Cpath",
                    agent=r"Agent \x22Quoted\x22 caf\xC3\xA9 \xF0\x9F\x98\x80",
                )
            ]
        )
    )
    assert event["path"] == "/café"
    assert event["query"] == 'q="x"'
    assert event["referrer"] == "http://example.com/\\win\\path"
    assert event["user_agent"] == 'Agent "Quoted" café 😀'


def test_invalid_utf8_after_unescaping_stays_as_hex_text():
    # 0xE9 alone (Latin-1 "é") and a cut-off 2-byte sequence are not UTF-8: kept as \xNN text,
    # next to a valid sequence that is decoded. The hex digits come back in lower case.
    event = only_event(parse([combined(agent=r"caf\xE9 \xC3\xA9\xC3 \xff\xfe")]))
    assert event["user_agent"] == r"caf\xe9 é\xc3 \xff\xfe"


def test_apache_backslash_escapes():
    # Apache httpd writes '"' as \" and '\' as \\ (a literal "\x41" is logged as "\\x41").
    event = only_event(
        parse([combined(request=r"GET /a\"b HTTP/1.1", referrer=r"http://r/\"q\"", agent=r"A \"q\" b\\s \\x41")])
    )
    assert event["path"] == '/a"b'
    assert event["referrer"] == 'http://r/"q"'
    assert event["user_agent"] == r"A " + '"q"' + r" b\s \x41"


# -- time variables --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logged", "utc", "offset"),
    [
        ("10/Oct/2015:13:55:36 -0500", dt.datetime(2015, 10, 10, 18, 55, 36, tzinfo=UTC), -300),
        ("28/Mar/2016:00:30:00 -0400", dt.datetime(2016, 3, 28, 4, 30, tzinfo=UTC), -240),
        ("01/Jan/2016:02:00:00 +0530", dt.datetime(2015, 12, 31, 20, 30, tzinfo=UTC), 330),
        ("31/Dec/2015:23:59:59 +0000", dt.datetime(2015, 12, 31, 23, 59, 59, tzinfo=UTC), 0),
    ],
)
def test_time_local_converted_to_utc(logged, utc, offset):
    event = only_event(parse([combined(time=logged)]))
    assert event["ts"] == utc
    assert event["utc_offset_minutes"] == offset


@pytest.mark.parametrize(
    ("logged", "utc", "offset"),
    [
        ("2015-10-10T13:55:36+02:00", dt.datetime(2015, 10, 10, 11, 55, 36, tzinfo=UTC), 120),
        ("2015-10-10T13:55:36Z", dt.datetime(2015, 10, 10, 13, 55, 36, tzinfo=UTC), 0),
        ("2015-10-10T01:00:00-03:30", dt.datetime(2015, 10, 10, 4, 30, tzinfo=UTC), -210),
    ],
)
def test_time_iso8601(logged, utc, offset):
    event = only_event(
        parse([f'192.0.2.1 [{logged}] "GET / HTTP/1.1" 200'], '$remote_addr [$time_iso8601] "$request" $status')
    )
    assert event["ts"] == utc
    assert event["utc_offset_minutes"] == offset


def test_msec():
    chunk = parse(
        ["192.0.2.1 1444485336.123 200", "192.0.2.1 1444485336 200"],
        "$remote_addr $msec $status",
    )
    assert chunk.quarantine.height == 0
    assert chunk.events.get_column("ts").to_list() == [
        dt.datetime(2015, 10, 10, 13, 55, 36, 123000, tzinfo=UTC),
        dt.datetime(2015, 10, 10, 13, 55, 36, tzinfo=UTC),
    ]
    # $msec is a Unix time: it carries no offset.
    assert chunk.events.get_column("utc_offset_minutes").to_list() == [None, None]


@pytest.mark.parametrize(
    "logged", ["32/Foo/2015:13:55:36 +0000", "31/Feb/2016:00:00:00 +0000", "10/Oct/2015:25:00:00 +0000"]
)
def test_invalid_time_is_quarantined(logged):
    line = combined(time=logged)
    chunk = parse([line])
    assert chunk.events.height == 0
    assert chunk.quarantine.rows() == [(1, "invalid_time", line)]


# -- $request --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_line", "method", "path", "query", "protocol"),
    [
        ("GET /index.html HTTP/1.1", "GET", "/index.html", None, "HTTP/1.1"),
        ("POST /wp-login.php?redirect_to=%2F&x=1 HTTP/1.0", "POST", "/wp-login.php", "redirect_to=%2F&x=1", "HTTP/1.0"),
        ("GET /search? HTTP/2.0", "GET", "/search", None, "HTTP/2.0"),
        ("GET /a?b?c HTTP/2", "GET", "/a", "b?c", "HTTP/2"),
        ("HEAD / HTTP/1.1", "HEAD", "/", None, "HTTP/1.1"),
        ("OPTIONS * HTTP/1.1", "OPTIONS", "*", None, "HTTP/1.1"),
        ("GET http://example.com/p?q=1 HTTP/1.1", "GET", "http://example.com/p", "q=1", "HTTP/1.1"),
        ("GET /no-protocol", "GET", "/no-protocol", None, None),
        ("GET /with space HTTP/1.1", "GET", "/with space", None, "HTTP/1.1"),
        ("PROPFIND /dav/ HTTP/1.1", "PROPFIND", "/dav/", None, "HTTP/1.1"),
    ],
)
def test_request_split(request_line, method, path, query, protocol):
    event = only_event(parse([combined(request=request_line)]))
    assert (event["method"], event["path"], event["query"], event["protocol"]) == (method, path, query, protocol)


@pytest.mark.parametrize("request_line", ["-", r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03", "GARBAGE", "", "GET"])
def test_malformed_request_line_is_kept_as_event_without_method_and_path(request_line):
    event = only_event(parse([combined(request=request_line)]))
    assert (event["method"], event["path"], event["query"], event["protocol"]) == (None, None, None, None)
    assert event["status"] == 200
    assert event["ts"] == dt.datetime(2015, 10, 10, 13, 55, 36, tzinfo=UTC)


# -- quarantine ------------------------------------------------------------------------------


def test_line_that_does_not_match_goes_to_quarantine_with_its_line_number():
    lines = [combined(), '192.0.2.10 - - [10/Oct/2015:13:55:36 +0000] "GET / HTTP/1.1" 200', combined()]
    chunk = parse(lines, first_line=7001)
    assert chunk.events.get_column("line_number").to_list() == [7001, 7003]
    assert chunk.quarantine.rows() == [(7002, "format_mismatch", lines[1])]


@pytest.mark.parametrize("line", ["", "   ", "\t", "\r"])
def test_empty_line(line):
    chunk = parse([combined(), line], first_line=41)
    assert chunk.events.get_column("line_number").to_list() == [41]
    assert chunk.quarantine.rows() == [(42, "empty_line", line)]


def test_line_over_64_kib():
    limit = 64 * 1024
    prefix = combined(agent="")[:-1]
    at_limit = prefix + "A" * (limit - len(prefix) - 1) + '"'
    over = prefix + "A" * (limit - len(prefix)) + '"'
    assert (len(at_limit.encode()), len(over.encode())) == (limit, limit + 1)
    chunk = parse([at_limit, over])
    assert chunk.events.get_column("line_number").to_list() == [1]
    assert len(chunk.events.get_column("user_agent")[0]) == limit - len(prefix) - 1
    assert chunk.quarantine.rows() == [(2, "line_too_long", over)]


def test_every_line_is_in_exactly_one_of_events_and_quarantine():
    lines = [
        combined(),
        "",
        "x" * (64 * 1024 + 10),
        "GARBAGE LINE",
        combined(time="32/Foo/2015:13:55:36 +0000"),
        combined(request="-"),
        combined(request=r"\x16\x03\x01"),
        "   ",
        combined(agent=r"\x22"),
        combined()[:-1],
    ]
    first = 1_000_001
    chunk = parse(lines, first_line=first)
    events = chunk.events.get_column("line_number").to_list()
    quarantined = chunk.quarantine.get_column("line_number").to_list()
    assert len(events) + len(quarantined) == len(lines)
    assert sorted(events + quarantined) == list(range(first, first + len(lines)))
    assert dict(zip(quarantined, chunk.quarantine.get_column("reason").to_list(), strict=True)) == {
        first + 1: "empty_line",
        first + 2: "line_too_long",
        first + 3: "format_mismatch",
        first + 4: "invalid_time",
        first + 7: "empty_line",
    }


# -- a custom log_format ---------------------------------------------------------------------

CUSTOM_FORMAT = (
    '$remote_addr [$time_local] $host "$request" $status $body_bytes_sent $request_time '
    'urt=$upstream_response_time ua=$upstream_addr "$http_user_agent" $http_x_forwarded_for'
)


def test_custom_format_with_host_request_time_and_upstream_lists():
    lines = [
        '192.0.2.1 [10/Oct/2015:13:55:36 +0200] www.example.com "GET /p?x=1 HTTP/1.1" 200 512 0.016 '
        'urt=0.004, 0.012 ua=10.0.0.1:80, 10.0.0.2:80 "curl/8.0" 198.51.100.9, 203.0.113.4',
        '192.0.2.2 [10/Oct/2015:13:55:37 +0200] shop.example.org "POST /cart HTTP/2.0" 502 157 1.250 '
        'urt=0.001 : 0.002 ua=10.0.0.1:80 : 10.0.0.3:80 "Mozilla/5.0 (a; b)" -',
        '192.0.2.3 [10/Oct/2015:13:55:38 +0200] www.example.com "GET / HTTP/1.1" 304 - 0.000 urt=- ua=- "-" -',
    ]
    chunk = parse(lines, CUSTOM_FORMAT)
    assert chunk.quarantine.height == 0
    got = chunk.events.select(
        "line_number",
        "ts",
        "host",
        "method",
        "path",
        "status",
        "bytes_sent",
        "request_time",
        "user_agent",
        "x_forwarded_for",
    ).rows()
    assert got == [
        (1, dt.datetime(2015, 10, 10, 11, 55, 36, tzinfo=UTC), "www.example.com", "GET", "/p", 200, 512, 0.016,
         "curl/8.0", "198.51.100.9, 203.0.113.4"),
        (2, dt.datetime(2015, 10, 10, 11, 55, 37, tzinfo=UTC), "shop.example.org", "POST", "/cart", 502, 157, 1.25,
         "Mozilla/5.0 (a; b)", None),
        (3, dt.datetime(2015, 10, 10, 11, 55, 38, tzinfo=UTC), "www.example.com", "GET", "/", 304, None, 0.0,
         None, None),
    ]  # fmt: skip


def test_custom_format_rejects_a_broken_upstream_list():
    # "0.004,0.012" (no space) is not how nginx writes the list: the line does not match.
    line = (
        '192.0.2.1 [10/Oct/2015:13:55:36 +0200] www.example.com "GET / HTTP/1.1" 200 512 0.016 '
        'urt=0.004,, 0.012 ua=- "curl/8.0" -'
    )
    assert parse([line], CUSTOM_FORMAT).quarantine.rows() == [(1, "format_mismatch", line)]


# -- JSON templates --------------------------------------------------------------------------


def test_json_keys_with_at_sign_and_dot():
    # Elastic-style templates use keys such as "@timestamp" and "http.host".
    fmt = (
        'log_format j escape=json \'{"@timestamp":"$time_iso8601","ip":"$remote_addr","http.host":"$host",'
        '"request":"$request","status":$status}\';'
    )
    line = (
        '{"@timestamp":"2016-03-01T04:16:19-05:00","http.host":"blog.example.com",'
        '"request":"GET /feed HTTP/1.1","status":406}'
    )
    event = only_event(parse([line], fmt))
    assert event["ts"] == dt.datetime(2016, 3, 1, 9, 16, 19, tzinfo=UTC)
    assert event["utc_offset_minutes"] == -300
    assert event["host"] == "blog.example.com"
    assert (event["method"], event["path"], event["status"]) == ("GET", "/feed", 406)


def test_json_values_are_unescaped_once():
    # nginx escape=json writes '"' as \" and '\' as \\; the JSON reader undoes that. The value
    # of "request" below is: GET /a\\b\x41 HTTP/1.1 (two backslashes, then "\x41" as text).
    fmt = (
        '{"t": "$time_iso8601", "ip": "$remote_addr", "request": "$request", '
        '"status": $status, "ua": "$http_user_agent"}'
    )
    line = (
        r'{"t": "2015-10-10T13:55:36Z", "request": "GET /a\\\\b\\x41 HTTP/1.1", '
        r'"status": 200, "ua": "say \"hi\" \u00e9"}'
    )
    event = only_event(parse([line], fmt))
    assert event["path"] == "/a" + "\\" * 2 + "b" + "\\" + "x41"
    assert event["user_agent"] == 'say "hi" é'


def test_json_lines_that_are_not_json_or_lack_the_time_or_status_are_quarantined():
    fmt = '{"t": "$time_iso8601", "ip": "$remote_addr", "s": $status}'
    lines = [
        '{"t": "2015-10-10T13:55:36Z", "s": 200}',
        "192.0.2.1 - - not json",
        '{"t": "2015-10-10T13:55:36Z", "s": 200',
        '{"s": 200}',
        '{"t": "2015-10-10T13:55:36Z", "s": "OK"}',
        '{"t": "yesterday", "s": 200}',
    ]
    chunk = parse(lines, fmt)
    assert chunk.events.get_column("line_number").to_list() == [1]
    assert sorted(chunk.quarantine.select("line_number", "reason").rows()) == [
        (2, "invalid_json"),
        (3, "invalid_json"),
        (4, "missing_time"),
        (5, "invalid_status"),
        (6, "invalid_time"),
    ]


# -- real lines ------------------------------------------------------------------------------

LAST_QUOTED_RE = re.compile(rb'"((?:[^"\\]|\\.)*)"$')


def parsed(name: str, source: str, fmt: str = "combined") -> tuple[dict[int, bytes], ParsedChunk]:
    lines = log_lines(name, source)
    return lines, parse_lines(log_frame(lines), compile_log_format(fmt))


@pytest.mark.real_logs
def test_apache_logs_every_line_parsed():
    raw, chunk = parsed("apache_logs", "whole")
    assert len(raw) == 10_000
    assert chunk.quarantine.height == 0
    assert chunk.events.get_column("line_number").to_list() == list(range(1, 10_001))
    # README: 669 lines have "-" for bytes.
    dash_bytes = sum(1 for line in raw.values() if re.search(rb'" \d{3} - "', line))
    assert dash_bytes == 669
    assert chunk.events.get_column("bytes_sent").null_count() == dash_bytes


@pytest.mark.parametrize("source", SOURCES)
def test_apache_logs_line_8899_truncated_user_agent(source):
    raw, chunk = parsed("apache_logs", source)
    assert chunk.quarantine.height == 0
    line = raw[8899].decode()
    assert not line.endswith('"')
    logged_agent = line.rsplit(' "', 1)[1]
    assert logged_agent.startswith("Mozilla/5.0 (compatible; Googlebot/2.1")
    event = chunk.events.filter(pl.col("line_number") == 8899).row(0, named=True)
    assert event["user_agent"] == logged_agent
    status, size = re.search(r'" (\d{3}) (\d+) "', line).groups()
    assert (event["status"], event["bytes_sent"]) == (int(status), int(size))
    assert event["path"] == re.search(r'"GET (\S+) HTTP', line).group(1)


@pytest.mark.parametrize("source", SOURCES)
def test_apache_logs_hex_escaped_referrers(source):
    raw, chunk = parsed("apache_logs", source)
    escaped = [n for n, line in raw.items() if b"\\x" in line]
    assert escaped == [5851, 5853, 5860]
    events = chunk.events.filter(pl.col("line_number").is_in(escaped)).sort("line_number")
    for n, referrer in zip(escaped, events.get_column("referrer").to_list(), strict=True):
        logged = re.search(rb'" \d{3} (?:\d+|-) "([^"]*)" "', raw[n]).group(1)
        # The escaped bytes are a single-byte encoding, not UTF-8 ...
        with pytest.raises(UnicodeDecodeError):
            codecs.escape_decode(logged)[0].decode("utf-8")
        # ... so the referrer keeps them as the \xNN text that was logged.
        assert referrer == logged.decode()
        assert referrer.startswith("http://\\xe4\\xe5")


@pytest.mark.parametrize("source", SOURCES)
def test_nginx_logs_ipv6_clients(source):
    raw, chunk = parsed("nginx_logs", source)
    ipv6 = {n: line.split(b" ", 1)[0].decode() for n, line in raw.items() if b":" in line.split(b" ", 1)[0]}
    assert len(ipv6) == 50
    assert all(ipaddress.ip_address(a).version == 6 for a in ipv6.values())
    assert chunk.quarantine.height == 0
    assert chunk.events.height == len(raw) == (51_462 if source == "whole" else 80)
    got = chunk.events.filter(pl.col("remote_addr").str.contains(":")).select("line_number", "remote_addr").rows()
    assert dict(got) == ipv6


@pytest.mark.parametrize("source", SOURCES)
def test_wordpress_lines_with_backslash_quotes(source):
    raw = log_lines("wordpress_access3.log.gz", source)
    numbers = [n for n, line in raw.items() if b'\\"' in line]
    assert numbers == [46997, 46998, 79003, 91652, 91653, 91654, 191104]
    lines = pl.DataFrame(
        {"line_number": numbers, "line": [raw[n].decode() for n in numbers]},
        schema={"line_number": pl.Int64, "line": pl.String},
    )
    chunk = parse_lines(lines, compile_log_format("combined"))
    assert chunk.quarantine.height == 0
    events = chunk.events.rows_by_key("line_number", named=True)
    assert sorted(events) == numbers
    for n in numbers:
        event = events[n][0]
        logged_agent = LAST_QUOTED_RE.search(raw[n]).group(1)
        # Only Apache's \" and \\ and \xNN escapes occur in these agents.
        assert set(re.findall(rb"\\(.)", logged_agent)) <= {b'"', b"\\", b"x"}
        assert event["user_agent"] == codecs.escape_decode(logged_agent)[0].decode("utf-8", "backslashreplace")
        assert (event["method"], event["protocol"]) == ("GET", "HTTP/1.1")
    # Six of them carry the quotes in the user agent (a PHP object injection payload) ...
    injected = [n for n in numbers if events[n][0]["user_agent"].startswith('}__test|O:21:"JDatabaseDriverMysqli"')]
    assert injected == numbers[:6]
    assert events[46997][0]["user_agent"].endswith(r'"\0\0\0connection";b:1;}\xf0\xfd\xfd\xfd')
    assert events[91652][0]["user_agent"].endswith('"\\0\\0\\0connection";b:1;}\U0001d306')
    # ... and one in the request line.
    assert events[191104][0]["path"] == '/2014/12/"December'
    assert events[191104][0]["status"] == 404


@pytest.mark.parametrize("source", SOURCES)
def test_nginx_json_logs_equal_nginx_logs_parsed_with_combined(source):
    template = (
        '{"time": "$time_local", "remote_ip": "$remote_addr", "remote_user": "$remote_user", '
        '"request": "$request", "response": $status, "bytes": $body_bytes_sent, '
        '"referrer": "$http_referer", "agent": "$http_user_agent"}'
    )
    _, text = parsed("nginx_logs", source)
    _, json = parsed("nginx_json_logs.gz", source, template)
    assert json.quarantine.height == 0
    assert json.events.height == (51_462 if source == "whole" else 80)
    assert_frame_equal(json.events, text.events)


@pytest.mark.parametrize("source", SOURCES)
def test_wordpress_daylight_saving_change_keeps_utc_in_order(source):
    # The log's offset goes from -0500 to -0400 at 02:00 local on 13 March 2016 (line 114,485):
    # the clock jumps an hour ahead, the UTC times do not.
    raw, chunk = parsed("wordpress_access3.log.gz", source)
    numbers = range(114_475, 114_496)
    events = chunk.events.filter(pl.col("line_number").is_in(list(numbers))).sort("line_number")
    logged = [re.search(rb"\[([^\]]+)\]", raw[n]).group(1).decode() for n in numbers]
    want = [dt.datetime.strptime(t, "%d/%b/%Y:%H:%M:%S %z") for t in logged]
    assert [t.utcoffset() for t in want].index(dt.timedelta(hours=-4)) == 114_485 - 114_475
    assert events.get_column("ts").to_list() == [t.astimezone(UTC) for t in want]
    assert events.get_column("utc_offset_minutes").to_list() == [t.utcoffset() // dt.timedelta(minutes=1) for t in want]
