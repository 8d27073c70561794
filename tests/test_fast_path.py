"""The compiled tokenizer's fast path against the reference parser, line for line.

parsers.fast_path.parse_chunk must give exactly what parsers.access_log.parse_lines gives
(the reference: one regular expression per line, then typing, splitting and unescaping) for
every line: the same events with the same values and types, and the same quarantined lines
with the same reasons. Checked on every real log and on generated lines built to hit the
tokenizer's edges (escapes, missing quotes, CR, odd times, non-ASCII, upstream lists).
"""

from __future__ import annotations

import gzip

import polars as pl
import pytest
from conftest import shared_log
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parsers.access_log import PARSED_SCHEMA, parse_lines
from parsers.coded import CodedEvents
from parsers.fast_path import as_utf8, compile_template, lines_frame, parse_chunk
from parsers.log_format import compile_log_format

COMBINED = "combined"
# Every value kind the tokenizer walks: plain, quoted, ints, floats, upstream lists, ISO time,
# a header and a cookie as user and session fields, a last unquoted variable.
RICH = (
    '$remote_addr $host "$http_x_forwarded_for" [$time_iso8601] "$request" $status $body_bytes_sent '
    '$request_time $upstream_response_time "$http_referer" "$http_user_agent" "$cookie_sid" $http_x_user'
)


def reference(data: bytes, fmt_text: str, user_field="remote_user", session_field=None):
    fmt = compile_log_format(fmt_text)
    parsed = parse_lines(lines_frame(as_utf8(data), 1), fmt, user_field=user_field, session_field=session_field)
    return parsed.events.sort("line_number", maintain_order=True), parsed.quarantine.sort("line_number")


def fast(data: bytes, fmt_text: str, user_field="remote_user", session_field=None):
    fmt = compile_log_format(fmt_text)
    template = compile_template(fmt, user_field, session_field)
    assert template is not None, "this format should take the fast path"
    chunk = parse_chunk(data, 1, fmt, template, user_field=user_field, session_field=session_field)
    events = chunk.events.decode().select(list(PARSED_SCHEMA)).sort("line_number", maintain_order=True)
    return events, chunk.quarantine.sort("line_number"), chunk.lines, chunk.reference_lines


def assert_same(data: bytes, fmt_text: str = COMBINED, **fields) -> tuple[int, int, int]:
    """Fast path == reference parser on ``data``; returns (events, quarantined, lines the
    tokenizer left to the reference parser)."""
    want_events, want_quarantine = reference(data, fmt_text, **fields)
    got_events, got_quarantine, lines, reference_lines = fast(data, fmt_text, **fields)
    assert got_events.schema == want_events.schema
    for column in PARSED_SCHEMA:
        got, want = got_events.get_column(column), want_events.get_column(column)
        diff = got.ne_missing(want)
        assert not diff.any(), (column, got.filter(diff).head(3).to_list(), want.filter(diff).head(3).to_list())
    assert got_quarantine.equals(want_quarantine)
    # A line of two records run together gives two events with its number (parsers/run_together.py).
    assert lines == want_events.get_column("line_number").n_unique() + want_quarantine.height
    return want_events.height, want_quarantine.height, reference_lines


@pytest.mark.parametrize("name", ["apache_logs", "nginx_logs", "wordpress_access3.log.gz"])
def test_real_logs_parse_exactly_as_the_reference_parser(name):
    path = shared_log(name)
    data = gzip.open(path).read() if name.endswith(".gz") else path.read_bytes()
    events, _, reference_lines = assert_same(data)
    assert events > 9_000  # every real log is mostly events
    # The tokenizer took them, not the reference parser: the equality above is not vacuous.
    assert reference_lines <= 1  # apache_logs has one line whose user agent lost its end


def test_a_chunk_that_is_not_utf8_is_read_like_the_reference():
    line = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\xe9 HTTP/1.1" 200 2326 "-" "Mozilla\xff"\n'
    events, _, reference_lines = assert_same(line * 3)
    assert (events, reference_lines) == (3, 0)


LINE = '192.0.2.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "http://x/" "Mozilla/5.0"'


@pytest.mark.parametrize(
    "line",
    [
        LINE,
        LINE + "\r",  # CRLF line ends: the reference reader drops the \r
        LINE[:-1],  # Apache cuts long user agents and drops the closing quote
        LINE.replace("Mozilla/5.0", 'Moz\\"illa\\\\x'),  # Apache's \" and \\
        LINE.replace("Mozilla/5.0", "Moz\\x22illa"),  # nginx's \xXX
        LINE.replace("[10/Oct/2000:13:55:36", "[10/oct/2000:13:55:60"),  # second 60, lower-case month
        LINE.replace("[10/Oct/2000:13:55:36", "[30/Feb/2000:13:55:36"),  # no such day: invalid_time
        LINE.replace("-0700]", "+2500]"),  # no such offset
        LINE.replace("[10/Oct/2000", "[10/Foo/2000"),  # no such month
        LINE.replace(" 200 ", " 20 "),  # not a status: no match
        LINE.replace(" 2326 ", " - "),  # no body bytes
        LINE.replace(" 2326 ", " 99999999999999999999 "),  # bytes beyond int64
        LINE.replace('"GET /a?b=1 HTTP/1.1"', '"-"'),  # no request line
        LINE.replace('"GET /a?b=1 HTTP/1.1"', '"GET HTTP/1.1"'),
        LINE.replace('"GET /a?b=1 HTTP/1.1"', '"\\x16\\x03\\x01"'),  # TLS sent to the HTTP port
        LINE.replace("bob", "-").replace('"http://x/"', '"-"'),
        LINE + " trailing junk",
        LINE.replace('"Mozilla/5.0"', '"Mozilla/5.0" "extra"'),
        "",
        "   \t",
        "x" * 70_000,  # over MAX_LINE_BYTES
        LINE.replace("bob", "bö b"),
        "\u00a0",  # only a non-ASCII space
    ],
)
def test_edge_lines_parse_exactly_as_the_reference_parser(line):
    _, _, reference_lines = assert_same((line + "\n" + LINE + "\n").encode())
    assert reference_lines <= 1  # the plain LINE after the edge line is always the tokenizer's


RICH_LINE = (
    '2001:db8::1 example.org "203.0.113.9, 10.0.0.1" [2000-10-10T13:55:36+02:00] "POST /p/1?utm_source=x HTTP/2.0" '
    '201 12 0.004 0.002, 0.010 : 0.001 "-" "curl/8" "s3ss10n" 42'
)


@pytest.mark.parametrize(
    "line",
    [
        RICH_LINE,
        RICH_LINE.replace("+02:00]", "Z]"),
        RICH_LINE.replace(" 0.004 ", " - "),
        RICH_LINE.replace("0.002, 0.010 : 0.001", "-"),
        RICH_LINE.replace("0.002, 0.010 : 0.001", "0.002,"),  # a list cut short: no match
        RICH_LINE.replace("0.002, 0.010", "0.002, é"),  # non-ASCII in a list: the reference decides
        RICH_LINE.replace('"s3ss10n"', '""'),  # an empty cookie: no session
        RICH_LINE.replace(" 42", " "),  # an empty last variable
        RICH_LINE.replace(" 42", " 4 2"),  # the last variable runs to the line end
    ],
)
def test_rich_format_lines_parse_exactly_as_the_reference_parser(line):
    assert_same((line + "\n").encode(), RICH, user_field="http_x_user", session_field="cookie_sid")


def test_rich_format_lines_are_taken_by_the_tokenizer():
    events, _, reference_lines = assert_same(
        (RICH_LINE + "\n").encode() * 2, RICH, user_field="http_x_user", session_field="cookie_sid"
    )
    assert (events, reference_lines) == (2, 0)


@pytest.mark.parametrize(
    ("fmt_text", "line", "column", "stored"),
    [
        (COMBINED, LINE.replace("Mozilla/5.0", "Moz\\x00illa/5.0"), "user_agent", "Moz\\x00illa/5.0"),  # nginx's \x00
        (COMBINED, LINE.replace("Mozilla/5.0", "Moz\x00illa/5.0"), "user_agent", "Moz\\x00illa/5.0"),  # a raw NUL
        (COMBINED, LINE.replace("Mozilla/5.0", "a\x1b[31mred\x7f"), "user_agent", "a\\x1b[31mred\\x7f"),
        (COMBINED, LINE.replace("Mozilla/5.0", "tab\there"), "user_agent", "tab\there"),  # a tab is text
        (COMBINED, LINE.replace("/a?b=1", "/a\rb?c=\\x0a"), "path", "/a\\x0db"),  # CR inside, escaped LF
        (COMBINED, LINE.replace("/a?b=1", "/a\rb?c=\\x0a"), "query", "c=\\x0a"),
        (COMBINED, LINE.replace("http://x/", "http://x/\x08"), "referrer", "http://x/\\x08"),
        (RICH, RICH_LINE.replace("example.org", "exa\x01mple.org"), "host", "exa\\x01mple.org"),  # not unescaped
    ],
)
def test_control_characters_are_stored_as_escapes_by_both_parsers(fmt_text, line, column, stored):
    fields = {"user_field": "http_x_user", "session_field": "cookie_sid"} if fmt_text == RICH else {}
    assert_same((line + "\n").encode(), fmt_text, **fields)
    events, _ = reference((line + "\n").encode(), fmt_text, **fields)
    assert events.get_column(column).to_list() == [stored]


_TEXT = st.text(alphabet=st.sampled_from(list(' "\\[]/:-+,.?=0123456789aAzZ\t\ré\u00a0x')), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 8), _TEXT), min_size=1, max_size=4),
    rich=st.booleans(),
)
@example(cuts=[(0, 0, "")], rich=False)
def test_mutated_lines_parse_exactly_as_the_reference_parser(cuts, rich):
    # A valid line with random spans replaced by text made of the format's own delimiters.
    line = RICH_LINE if rich else LINE
    for at, length, text in cuts:
        at = min(at, len(line))
        line = line[:at] + text + line[at + length :]
    fields = {"user_field": "http_x_user", "session_field": "cookie_sid"} if rich else {}
    assert_same((line + "\n" + line + "\n").encode(), RICH if rich else COMBINED, **fields)


@pytest.mark.parametrize(
    "fmt_text",
    [
        '{"time": "$time_local", "remote_addr": "$remote_addr", "request": "$request", "status": "$status"}',
        '$remote_addr [$msec] "$request" $status',
        '$remote_addr [$time_local] "$request" "$status"',
        "$remote_addr [$time_local] $request_method $request_uri $status",
    ],
)
def test_formats_outside_the_fast_path_are_left_to_the_reference_parser(fmt_text):
    assert compile_template(compile_log_format(fmt_text), "remote_user", None) is None


def test_encode_and_decode_are_inverse():
    events, _ = reference(LINE.encode() + b"\n" + RICH_LINE.encode() + b"\n", COMBINED)
    both = pl.concat([events, events.with_columns(pl.col("line_number") + 10)])
    coded = CodedEvents.encode(both)
    assert coded.decode().select(both.columns).equals(both)
    assert coded.dims["request"].height == 1  # one distinct request, coded once
