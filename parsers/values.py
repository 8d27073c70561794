"""What a parsed access-log line is, and the rules every parser applies to logged values.

The columns of an event (:data:`PARSED_SCHEMA`) and of a quarantined line
(:data:`QUARANTINE_SCHEMA`), the quarantine reasons, and the value rules that do not depend on
how a line was taken apart: unescaping, control characters, nginx's markers of an unset value
and the split of a request line. The text parser (:mod:`parsers.fast_path`), its regular
expressions (:mod:`parsers.text_regex`) and the JSON parser (:mod:`parsers.json_lines`) all
apply them.

Escaping (nginx ngx_http_log_module, ``escape=default``): ``"``, ``\\`` and bytes outside
32..126 are written as ``\\xXX``. Apache httpd's mod_log_config writes ``\\"`` and ``\\\\``
instead; both are undone here, and bytes that are not valid UTF-8 after unescaping are kept
as ``\\xXX`` text, and so are control characters (C0 but tab, and DEL), whether they came
escaped or raw: no stored string holds a NUL or a terminal escape sequence.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

MAX_LINE_BYTES = 64 * 1024

# The columns of an event, with their types. ``remote_addr`` is the raw client
# address, ``user_id`` and ``session_id`` the raw values of the configured user-id and
# session fields: they only live in memory and are replaced by keyed hashes before anything
# is written (transforms.privacy.pseudonymise).
PARSED_SCHEMA: dict[str, pl.DataType] = {
    "line_number": pl.Int64(),
    "remote_addr": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "utc_offset_minutes": pl.Int16(),
    "method": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "protocol": pl.String(),
    "status": pl.Int16(),
    "bytes_sent": pl.Int64(),
    "referrer": pl.String(),
    "user_agent": pl.String(),
    "user_id": pl.String(),
    "session_id": pl.String(),
    "host": pl.String(),
    "request_time": pl.Float64(),
    "x_forwarded_for": pl.String(),
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "line_number": pl.Int64(),
    "reason": pl.String(),
    "line": pl.String(),
}

# Quarantine reasons, in the order they are checked; docs/analysts/schema.md explains each.
REASON_EMPTY = "empty_line"
REASON_TOO_LONG = "line_too_long"
REASON_NO_MATCH = "format_mismatch"
REASON_BAD_JSON = "invalid_json"
REASON_MISSING_TIME = "missing_time"
REASON_BAD_TIME = "invalid_time"
REASON_BAD_STATUS = "invalid_status"
REASON_FUTURE = "future_time"

_ESCAPE_RE = re.compile(rb'\\x([0-9A-Fa-f]{2})|\\(["\\])')


@dataclass(frozen=True)
class ParseOptions:
    """What a parse needs besides the lines and their format.

    Attributes:
        user_field: the variable (without ``$``) whose value is the signed-in user's id
            (FOOTFALL_USER_ID_FIELD, e.g. ``remote_user`` or ``upstream_http_x_user_id``);
            ``user_id`` is null when the format does not log it or it is ``-``.
        session_field: the variable carrying the session id (FOOTFALL_SESSION_FIELD, e.g.
            ``cookie_sessionid``), or ``None``; same rules, column ``session_id``.
        not_after: the latest time an event may have (an aware datetime: the clock of the
            job reading the lines plus FOOTFALL_FUTURE_TOLERANCE_S); a later line is
            quarantined as ``future_time``. None accepts any time.
    """

    user_field: str | None = "remote_user"
    session_field: str | None = None
    not_after: dt.datetime | None = None


@dataclass(frozen=True)
class ParsedChunk:
    """The result of parsing one chunk of lines.

    Attributes:
        events: one row per parsed line, columns and types of :data:`PARSED_SCHEMA`.
        quarantine: one row per rejected line, columns of :data:`QUARANTINE_SCHEMA`; the
            ``line`` column holds the raw line as read (callers redact it before storing).
    """

    events: pl.DataFrame
    quarantine: pl.DataFrame


def unescape_value(value: str) -> str:
    """Undo nginx ``\\xXX`` and Apache ``\\"`` / ``\\\\`` escapes in one logged value.

    Bytes that do not form valid UTF-8 after unescaping are written back as ``\\xXX``.
    """
    raw = _ESCAPE_RE.sub(
        lambda m: bytes([int(m.group(1), 16)]) if m.group(1) else m.group(2),
        value.encode("utf-8", "surrogateescape"),
    )
    return raw.decode("utf-8", "backslashreplace")


# C0 control characters but tab, and DEL: written as \xNN text wherever they come from (an
# unescaped \x00, a raw byte, a JSON \u0000), like bytes that are not UTF-8.
_CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F)]
_CONTROL_TEXT = [f"\\x{ord(c):02x}" for c in _CONTROLS]
_CONTROL_RE = r"[\x00-\x08\x0a-\x1f\x7f]"


def escape_controls(col: pl.Series) -> pl.Series:
    """String column ``col`` with each control character (C0 but tab, and DEL) written as the
    text ``\\xNN`` (lower-case hex); the rewrite runs once per distinct value that has one."""
    has_control = col.str.contains(_CONTROL_RE).fill_null(False)
    if not has_control.any():
        return col
    distinct = col.filter(has_control).unique()
    return col.replace(distinct, distinct.str.replace_many(_CONTROLS, _CONTROL_TEXT))


def escaped_variables(user_field: str | None, session_field: str | None) -> tuple[str, ...]:
    """The variables whose logged values are unescaped (request line, headers, cookies)."""
    names = ("request", "http_referer", "http_user_agent", user_field, session_field, "request_uri", "uri", "args")
    return tuple(dict.fromkeys(n for n in names if n))


def unescape_column(col: pl.Series) -> pl.Series:
    """Unescape a string column (:func:`unescape_value`), in Python once per distinct escaped value."""
    has_escape = col.str.contains("\\", literal=True).fill_null(False)
    if not has_escape.any():
        return col
    distinct = col.filter(has_escape).unique().to_list()
    return col.replace({v: unescape_value(v) for v in distinct})


# Text columns whose "-" means "not set" (nginx logs an empty variable as "-"), and those
# whose "" also does (an empty header or cookie is logged as "" inside quotes).
DASH_IS_NULL = ("remote_addr", "referrer", "user_agent", "user_id", "session_id", "host", "x_forwarded_for")
EMPTY_IS_NULL = ("user_id", "session_id")


def null_markers(name: str) -> pl.Expr:
    """Column ``name`` with nginx's markers of an unset value (``-``, and ``""`` for the
    columns of :data:`EMPTY_IS_NULL`) replaced by null."""
    col = pl.col(name)
    unset = (col == "-") | (col == "") if name in EMPTY_IS_NULL else col == "-"
    return pl.when(unset).then(None).otherwise(col).alias(name)


def split_request(request: pl.Series) -> pl.DataFrame:
    """Split request lines (``$request``, unescaped) into method, path, query and protocol.

    Same result as ``extract_groups(^([A-Za-z][A-Za-z_-]*) (\\S.*?)(?: (HTTP/\\d(?:\\.\\d)?))?$)``
    followed by a split of the target at the first ``?``, without a capturing regex over the
    whole request: the method and the protocol are short anchored matches, the target is the
    rest.

    Args:
        request: String Series, one request line per row (nulls allowed).

    Returns:
        String columns ``method``, ``path``, ``query`` (without ``?``; null when empty or
        absent) and ``protocol``, one row per input row; all four are null for a request
        that is not an HTTP request line (``-``, binary junk), ``protocol`` also for HTTP/0.9
        lines without one.
    """
    frame = request.alias("_request").to_frame()
    req = pl.col("_request")
    # Method and protocol are columns before anything derives from them: an eager
    # with_columns does not eliminate common subexpressions, so each use of an extract()
    # expression would run its regex over every request again (four times each).
    frame = frame.with_columns(
        req.str.extract(r"^([A-Za-z][A-Za-z_-]*) \S", 1).alias("_method"),
        req.str.extract(r" (HTTP/\d(?:\.\d)?)$", 1).alias("_proto"),
    )
    method, proto = pl.col("_method"), pl.col("_proto")
    start = method.str.len_chars().cast(pl.Int64) + 1
    rest = req.str.len_chars().cast(pl.Int64) - start
    proto_len = proto.str.len_chars().cast(pl.Int64) + 1
    # The target needs at least one character: "GET HTTP/1.1" has target "HTTP/1.1", no protocol.
    has_proto = proto.is_not_null() & (rest - proto_len >= 1)
    target_len = pl.when(has_proto).then(rest - proto_len).otherwise(rest)
    frame = frame.with_columns(
        pl.when(method.is_not_null()).then(req.str.slice(start, target_len)).alias("_target"),
        pl.when(method.is_not_null() & has_proto).then(proto).alias("protocol"),
    )
    frame = frame.with_columns(pl.col("_target").str.splitn("?", 2).alias("_split")).unnest("_split")
    query = pl.col("field_1")
    return frame.select(
        method.alias("method"),
        pl.col("field_0").alias("path"),
        pl.when(query == "").then(None).otherwise(query).alias("query"),
        "protocol",
    )
