"""compile_log_format: an nginx ``log_format`` string, in every way an operator may paste it.

The regex is checked by matching hand-written log lines with Python's ``re`` (the patterns
footfall builds use only syntax that Rust ``regex`` and Python ``re`` read alike).
"""

from __future__ import annotations

import re

import pytest

from parsers.log_format import compile_log_format
from parsers.variables import LogFormatError

COMBINED_TEXT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
COMBINED_VARIABLES = (
    "remote_addr",
    "remote_user",
    "time_local",
    "request",
    "status",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
)
COMBINED_LINE = (
    '203.0.113.7 - alice [10/Oct/2015:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 '
    '"http://example.com/start" "Mozilla/5.0 (X11; Linux x86_64)"'
)
COMBINED_GROUPS = (
    "203.0.113.7",
    "alice",
    "10/Oct/2015:13:55:36 -0700",
    "GET /a?b=1 HTTP/1.1",
    "200",
    "2326",
    "http://example.com/start",
    "Mozilla/5.0 (X11; Linux x86_64)",
)


def groups(fmt, line: str) -> tuple[str, ...] | None:
    m = re.match(fmt.regex, line)
    return m.groups() if m else None


def test_predefined_combined():
    fmt = compile_log_format("combined")
    assert fmt.text == COMBINED_TEXT
    assert fmt.variables == COMBINED_VARIABLES
    assert not fmt.is_json
    assert fmt.json_fields == ()
    assert groups(fmt, COMBINED_LINE) == COMBINED_GROUPS
    # Anchored at both ends: a line with extra text after the user agent's quote does not match.
    assert groups(fmt, COMBINED_LINE + " extra") is None
    assert groups(fmt, "vhost.example " + COMBINED_LINE) is None


def test_combined_accepts_dash_values_crlf_and_a_missing_final_quote():
    fmt = compile_log_format("combined")
    line = '2001:db8::1 - - [01/Jan/2016:00:00:00 +0000] "-" 400 - "-" "-"\r'
    assert groups(fmt, line) == ("2001:db8::1", "-", "01/Jan/2016:00:00:00 +0000", "-", "400", "-", "-", "-")
    # A user agent cut off without its closing quote (apache_logs line 8,899) still matches.
    truncated = '198.51.100.2 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compat'
    assert groups(fmt, truncated)[-1] == "Mozilla/5.0 (compat"


def test_quoted_segments_as_in_nginx_conf():
    fmt = compile_log_format(
        """'$remote_addr - $remote_user [$time_local] "$request" '
           '$status $body_bytes_sent "$http_referer" '
           '"$http_user_agent"'"""
    )
    assert fmt.text == COMBINED_TEXT
    assert fmt.variables == COMBINED_VARIABLES
    assert groups(fmt, COMBINED_LINE) == COMBINED_GROUPS


def test_whole_log_format_directive():
    fmt = compile_log_format(
        """log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                          '$status $body_bytes_sent "$http_referer" "$http_user_agent"';"""
    )
    assert fmt.text == COMBINED_TEXT
    assert groups(fmt, COMBINED_LINE) == COMBINED_GROUPS


def test_double_quoted_segments_are_unescaped_like_nginx_does():
    # nginx.conf: inside "..." a quote is written \" and a tab \t; nginx logs the plain characters.
    fmt = compile_log_format(r'log_format tsv "$remote_addr\t[$time_local]\t\"$request\"\t$status";')
    assert fmt.text == '$remote_addr\t[$time_local]\t"$request"\t$status'
    line = '192.0.2.1\t[10/Oct/2015:13:55:36 +0000]\t"GET / HTTP/1.1"\t204'
    assert groups(fmt, line) == ("192.0.2.1", "10/Oct/2015:13:55:36 +0000", "GET / HTTP/1.1", "204")


def test_brace_variable_syntax():
    fmt = compile_log_format('${remote_addr} [${time_local}] "${request}" ${status} ${request_time}s')
    assert fmt.variables == ("remote_addr", "time_local", "request", "status", "request_time")
    line = '192.0.2.1 [10/Oct/2015:13:55:36 +0000] "GET / HTTP/1.1" 304 0.125s'
    assert groups(fmt, line) == ("192.0.2.1", "10/Oct/2015:13:55:36 +0000", "GET / HTTP/1.1", "304", "0.125")


def test_header_cookie_and_argument_variable_families_are_known():
    fmt = compile_log_format(
        "$remote_addr [$time_local] $status $http_x_forwarded_for $cookie_session $arg_page $sent_http_content_type"
    )
    assert fmt.variables == (
        "remote_addr",
        "time_local",
        "status",
        "http_x_forwarded_for",
        "cookie_session",
        "arg_page",
        "sent_http_content_type",
    )


def test_unknown_variable_names_it_and_suggests_the_close_one():
    with pytest.raises(LogFormatError) as err:
        compile_log_format('$remote_adr - $remote_user [$time_local] "$request" $status')
    message = str(err.value)
    assert "$remote_adr " in message
    assert "Did you mean $remote_addr" in message


def test_unknown_variable_in_braces_is_named_too():
    with pytest.raises(LogFormatError, match=r"\$upstream_respone_time.*Did you mean \$upstream_response_time"):
        compile_log_format("[$time_local] ${upstream_respone_time}")


def test_binary_remote_addr_is_rejected():
    with pytest.raises(LogFormatError, match=r"\$binary_remote_addr is binary"):
        compile_log_format("$binary_remote_addr [$time_local] $status")


def test_a_format_without_time_variable_is_rejected():
    with pytest.raises(LogFormatError, match=r"no time variable.*\$time_local, \$time_iso8601 or \$msec"):
        compile_log_format('$remote_addr "$request" $status')


def test_two_variables_with_nothing_between_are_rejected():
    with pytest.raises(LogFormatError, match=r"\$status and \$body_bytes_sent follow each other"):
        compile_log_format("$remote_addr [$time_local] $status$body_bytes_sent")
    with pytest.raises(LogFormatError, match=r"\$remote_addr and \$remote_user follow each other"):
        compile_log_format("${remote_addr}${remote_user} [$time_local] $status")


def test_empty_format_and_repeated_variable_are_rejected():
    with pytest.raises(LogFormatError, match="empty"):
        compile_log_format("   ")
    with pytest.raises(LogFormatError, match=r"\$status appears twice"):
        compile_log_format("[$time_local] $status $status")


JSON_TEMPLATE = (
    '{"time": "$time_local", "remote_ip": "$remote_addr", "request": "$request", '
    '"response": $status, "bytes": $body_bytes_sent, "agent": "$http_user_agent"}'
)
JSON_FIELDS = (
    ("time", "time_local"),
    ("remote_ip", "remote_addr"),
    ("request", "request"),
    ("response", "status"),
    ("bytes", "body_bytes_sent"),
    ("agent", "http_user_agent"),
)


def test_bare_json_template():
    fmt = compile_log_format(JSON_TEMPLATE)
    assert fmt.is_json
    assert fmt.regex is None
    assert fmt.json_fields == JSON_FIELDS
    assert fmt.variables == tuple(v for _, v in JSON_FIELDS)


def test_escape_json_directive_over_several_segments():
    fmt = compile_log_format(
        """log_format json_analytics escape=json
               '{"@timestamp":"$time_iso8601",'
               '"ip":"$remote_addr","host":"${host}","status":$status,'
               '"rt":$request_time}';"""
    )
    assert fmt.is_json
    assert fmt.json_fields == (
        ("@timestamp", "time_iso8601"),
        ("ip", "remote_addr"),
        ("host", "host"),
        ("status", "status"),
        ("rt", "request_time"),
    )


def test_escape_json_directive_with_double_quoted_template():
    fmt = compile_log_format(r'log_format j escape=json "{\"t\":\"$msec\",\"a\":\"$remote_addr\",\"s\":$status}";')
    assert fmt.text == '{"t":"$msec","a":"$remote_addr","s":$status}'
    assert fmt.json_fields == (("t", "msec"), ("a", "remote_addr"), ("s", "status"))


def test_json_template_checks_variables_like_text_formats():
    with pytest.raises(LogFormatError, match=r"\$remote_adr .*Did you mean \$remote_addr"):
        compile_log_format('{"t": "$time_local", "ip": "$remote_adr"}')
    with pytest.raises(LogFormatError, match="no time variable"):
        compile_log_format('{"ip": "$remote_addr", "s": $status}')
    with pytest.raises(LogFormatError, match='no "key": "\\$variable" pairs'):
        compile_log_format('{"t": "static"}')


def test_status_and_client_address_are_required():
    with pytest.raises(LogFormatError, match=r"no \$status; footfall needs it"):
        compile_log_format('$remote_addr [$time_local] "$request"')
    with pytest.raises(LogFormatError, match=r"no client address; add \$remote_addr"):
        compile_log_format('[$time_local] "$request" $status')
    assert compile_log_format("$realip_remote_addr [$time_local] $status").variables[0] == "realip_remote_addr"
