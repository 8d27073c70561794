"""The text parser (the compiled tokenizer and its regular expressions) against the oracle.

parsers.fast_path.parse_chunk must give, for every line, what tests/oracle_parser.py gives (an
independent parser: Python's ``re`` per line, plain dicts): the same events with the same
values, and the same quarantined lines with the same reasons. Checked on real logs and on lines
built to hit the tokenizer's edges (escapes, missing quotes, CR, odd times, non-ASCII, upstream
lists); formats the tokenizer has no template for are checked against the oracle too.
"""

from __future__ import annotations

import gzip

import oracle_parser
import polars as pl
import pytest
from conftest import shared_log
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from parser_check import assert_matches_oracle

from parsers.access_log import parse_lines
from parsers.coded import CodedEvents
from parsers.fast_path import compile_template
from parsers.log_format import compile_log_format

COMBINED = "combined"
# Every value kind the tokenizer walks: plain, quoted, ints, floats, upstream lists, ISO time,
# a header and a cookie as user and session fields, a last unquoted variable.
RICH = (
    '$remote_addr $host "$http_x_forwarded_for" [$time_iso8601] "$request" $status $body_bytes_sent '
    '$request_time $upstream_response_time "$http_referer" "$http_user_agent" "$cookie_sid" $http_x_user'
)
RICH_FIELDS = {"user_field": "http_x_user", "session_field": "cookie_sid"}


def check(data: bytes, fmt_text: str = COMBINED, **fields) -> tuple[int, int, int]:
    """footfall == oracle on ``data``; returns (events, quarantined, lines the tokenizer did not
    decide alone)."""
    chunk = assert_matches_oracle(data, fmt_text, **fields)
    return chunk.events.height, chunk.quarantine.height, chunk.slow_lines


@pytest.mark.real_logs
@pytest.mark.parametrize("name", ["apache_logs", "nginx_logs", "wordpress_access3.log.gz"])
def test_real_logs_parse_as_the_oracle_does(name):
    path = shared_log(name)
    data = gzip.open(path).read() if name.endswith(".gz") else path.read_bytes()
    events, _, slow_lines = check(data)
    assert events > 9_000  # every real log is mostly events
    # The tokenizer decided every line (apache_logs line 8,899's user agent lost its end, and
    # the template reads that too).
    assert slow_lines == 0


def test_a_chunk_that_is_not_utf8_is_read_as_the_oracle_reads_it():
    line = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\xe9 HTTP/1.1" 200 2326 "-" "Mozilla\xff"\n'
    events, _, slow_lines = check(line * 3)
    assert (events, slow_lines) == (3, 0)


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
def test_edge_lines_parse_as_the_oracle_does(line):
    _, _, slow_lines = check((line + "\n" + LINE + "\n").encode())
    assert slow_lines <= 1  # the plain LINE after the edge line is always the tokenizer's


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
def test_rich_format_lines_parse_as_the_oracle_does(line):
    check((line + "\n").encode(), RICH, **RICH_FIELDS)


def test_rich_format_lines_are_taken_by_the_tokenizer():
    events, _, slow_lines = check((RICH_LINE + "\n").encode() * 2, RICH, **RICH_FIELDS)
    assert (events, slow_lines) == (2, 0)


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
def test_control_characters_are_stored_as_escapes(fmt_text, line, column, stored):
    fields = RICH_FIELDS if fmt_text == RICH else {}
    chunk = check((line + "\n").encode(), fmt_text, **fields)
    assert chunk is not None
    events, _ = oracle_parser.parse((line + "\n").encode(), fmt_text, **fields)
    assert [e[column] for e in events] == [stored]


_TEXT = st.text(alphabet=st.sampled_from(list(' "\\[]/:-+,.?=0123456789aAzZ\t\ré\u00a0x')), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 8), _TEXT), min_size=1, max_size=4),
    rich=st.booleans(),
)
@example(cuts=[(0, 0, "")], rich=False)
def test_mutated_lines_parse_as_the_oracle_does(cuts, rich):
    # A valid line with random spans replaced by text made of the format's own delimiters.
    line = RICH_LINE if rich else LINE
    for at, length, text in cuts:
        at = min(at, len(line))
        line = line[:at] + text + line[at + length :]
    fields = RICH_FIELDS if rich else {}
    check((line + "\n" + line + "\n").encode(), RICH if rich else COMBINED, **fields)


SHORT = '$remote_addr [$time_local] "$request" $status'
SHORT_LINE = '192.0.2.1 [10/Oct/2000:13:55:36 -0700] "GET /" 200'


@pytest.mark.parametrize(
    ("fmt_text", "line"),
    [
        ('$remote_addr [$msec] "$request" $status', '192.0.2.1 [1444485336.5] "GET / HTTP/1.1" 200'),
        ('$remote_addr [$time_local] "$request" "$status"', '192.0.2.1 [10/Oct/2000:13:55:36 -0700] "GET /" "201"'),
        (
            "$remote_addr [$time_local] $request_method $request_uri $status",
            "192.0.2.1 [10/Oct/2000:13:55:36 -0700] GET /a?b 404",
        ),
        # A value that could end in two places: digits before a digit, a list before a comma.
        (SHORT + " ${body_bytes_sent}5", SHORT_LINE + " 1255"),
        (SHORT + " ${request_time}.5", SHORT_LINE + " 1.5.5"),
        (SHORT + " $upstream_addr, $host", SHORT_LINE + " a, b, c"),
        (SHORT + " $upstream_addr :$host", SHORT_LINE + " a : b :c"),
        (SHORT + " ${upstream_addr}x", SHORT_LINE + " ax"),
    ],
)
def test_formats_the_tokenizer_cannot_walk_are_parsed_by_their_regex_as_the_oracle_does(fmt_text, line):
    assert compile_template(compile_log_format(fmt_text), "remote_user", None) is None
    data = f"{line}\n{line[:-1]}\n\n".encode()
    chunk = assert_matches_oracle(data, fmt_text, template_expected=False)
    assert chunk.events.height >= 1


def test_json_formats_take_their_own_parser():
    fmt = '{"time": "$time_local", "remote_addr": "$remote_addr", "request": "$request", "status": "$status"}'
    assert compile_template(compile_log_format(fmt), "remote_user", None) is None


def test_encode_and_decode_are_inverse():
    lines = pl.DataFrame({"line_number": [1, 2], "line": [LINE, LINE.replace("bob", "alice")]})
    events = parse_lines(lines, compile_log_format(COMBINED)).events
    both = pl.concat([events, events.with_columns(pl.col("line_number") + 10)])
    coded = CodedEvents.encode(both)
    assert coded.decode().select(both.columns).equals(both)
    assert coded.dims["request"].height == 1  # one distinct request, coded once
