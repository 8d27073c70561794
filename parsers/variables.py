"""The nginx variables a ``log_format`` may use, and what their values look like.

Sources: nginx documentation, "Alphabetical index of variables"
(https://nginx.org/en/docs/varindex.html), ngx_http_core_module "Embedded Variables",
ngx_http_log_module (``$time_local``, ``$time_iso8601``, ``$msec``, ``$bytes_sent``, ...),
ngx_http_upstream_module, ngx_http_ssl_module, ngx_http_realip_module and
ngx_http_gzip_module.

Each variable has a *kind* that decides the regular expression its value is matched with
when it is not inside double quotes, and how it is typed afterwards.
"""

from __future__ import annotations

import difflib

# kind -> regex fragment used when the variable is NOT enclosed in double quotes.
# Inside quotes every variable uses QUOTED_VALUE instead.
# Values nginx logs as "-" (empty) must match too.
KIND_PATTERNS: dict[str, str] = {
    "time_local": r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}",
    "time_iso8601": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[+-][0-9]{2}:[0-9]{2}|Z)",
    "msec": r"[0-9]+(?:\.[0-9]+)?",
    "status": r"[0-9]{3}",
    "int": r"[0-9]+|-",
    "float": r"[0-9]+(?:\.[0-9]+)?|-",
    # $upstream_* lists: "0.004, 0.012 : 0.001" (comma between servers, colon between groups)
    "upstream_list": r"[^\s,]+(?:(?:, | : )[^\s,]+)*",
}

# Inside "...": nginx writes '"' and '\' as \x22 and \x5C; Apache writes \" and \\.
QUOTED_VALUE = r'[^"\\]*(?:\\.[^"\\]*)*'

_FIXED: dict[str, str] = {
    # ngx_http_log_module
    "time_local": "time_local",
    "time_iso8601": "time_iso8601",
    "msec": "msec",
    "bytes_sent": "int",
    "body_bytes_sent": "int",
    "request_length": "int",
    "request_time": "float",
    "pipe": "str",
    "connection": "int",
    "connection_requests": "int",
    "status": "status",
    # ngx_http_core_module
    "arg": "str",
    "args": "str",
    "binary_remote_addr": "unsupported",
    "content_length": "int",
    "content_type": "str",
    "cookie": "str",
    "document_root": "str",
    "document_uri": "str",
    "host": "str",
    "hostname": "str",
    "https": "str",
    "is_args": "str",
    "limit_rate": "int",
    "nginx_version": "str",
    "pid": "int",
    "proxy_protocol_addr": "str",
    "proxy_protocol_port": "int",
    "query_string": "str",
    "realpath_root": "str",
    "remote_addr": "str",
    "remote_port": "int",
    "remote_user": "str",
    "request": "str",
    "request_body": "str",
    "request_completion": "str",
    "request_filename": "str",
    "request_id": "str",
    "request_method": "str",
    "request_uri": "str",
    "scheme": "str",
    "server_addr": "str",
    "server_name": "str",
    "server_port": "int",
    "server_protocol": "str",
    "tcpinfo_rtt": "int",
    "tcpinfo_rttvar": "int",
    "tcpinfo_snd_cwnd": "int",
    "tcpinfo_rcv_space": "int",
    "uri": "str",
    # ngx_http_realip_module
    "realip_remote_addr": "str",
    "realip_remote_port": "int",
    # ngx_http_gzip_module
    "gzip_ratio": "float",
    # ngx_http_ssl_module
    "ssl_cipher": "str",
    "ssl_protocol": "str",
    "ssl_server_name": "str",
    "ssl_session_id": "str",
    "ssl_session_reused": "str",
    "ssl_client_verify": "str",
    "ssl_early_data": "str",
    # ngx_http_upstream_module
    "upstream_addr": "upstream_list",
    "upstream_bytes_received": "upstream_list",
    "upstream_bytes_sent": "upstream_list",
    "upstream_cache_status": "str",
    "upstream_connect_time": "upstream_list",
    "upstream_header_time": "upstream_list",
    "upstream_response_length": "upstream_list",
    "upstream_response_time": "upstream_list",
    "upstream_status": "upstream_list",
    "upstream_queue_time": "upstream_list",
}

# Families of variables named after a header, cookie or argument (nginx: "$http_name",
# "$sent_http_name", "$upstream_http_name", "$cookie_name", "$arg_name", ...).
_PREFIXES: tuple[str, ...] = (
    "http_",
    "sent_http_",
    "sent_trailer_",
    "upstream_http_",
    "upstream_trailer_",
    "upstream_cookie_",
    "cookie_",
    "arg_",
)


class LogFormatError(ValueError):
    """A ``log_format`` string footfall cannot build a parser from (a configuration error)."""


def variable_kind(name: str) -> str:
    """Return the kind of nginx variable ``name`` (without ``$``).

    Returns one of the keys of :data:`KIND_PATTERNS` or ``"str"``.

    Raises:
        LogFormatError: the variable is not an nginx variable footfall knows, or it cannot
            be logged as text (``$binary_remote_addr``). The message names the closest
            known variables, so a typo is easy to fix.
    """
    kind = _FIXED.get(name)
    if kind is None and any(name.startswith(p) and len(name) > len(p) for p in _PREFIXES):
        kind = "str"
    if kind is None:
        close = difflib.get_close_matches(name, list(_FIXED), n=3)
        hint = f" Did you mean {', '.join('$' + c for c in close)}?" if close else ""
        raise LogFormatError(
            f"unknown nginx variable ${name} in FOOTFALL_LOG_FORMAT.{hint} "
            "Use the log_format string exactly as written in nginx.conf; supported are the "
            "variables of https://nginx.org/en/docs/varindex.html that nginx logs as text."
        )
    if kind == "unsupported":
        raise LogFormatError(f"${name} is binary and cannot be parsed from a text log; log $remote_addr instead.")
    return kind
