"""Parse access-log lines into typed columns, column-wise (polars, no Python loop per line).

The parser is pure: a polars DataFrame of lines in, a :class:`ParsedChunk` out. It reads
no files and keeps no state, so chunks of one file can be parsed in any order or in
parallel.

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

from parsers.log_format import LogFormat
from parsers.run_together import PART_FOLLOWING, split_records

MAX_LINE_BYTES = 64 * 1024

# The columns parse_lines returns, with their types. ``remote_addr`` is the raw client
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


def _extract_text(lines: pl.DataFrame, fmt: LogFormat) -> tuple[pl.DataFrame, pl.Series]:
    """Match the format regex; returns one string column per variable and a match mask."""
    assert fmt.regex is not None
    fields = lines.select(pl.col("line").str.extract_groups(fmt.regex).alias("m")).unnest("m")
    fields.columns = list(fmt.variables)
    matched = fields.get_column(fmt.variables[0]).is_not_null()
    return fields, matched


def _extract_json(lines: pl.DataFrame, fmt: LogFormat) -> tuple[pl.DataFrame, pl.Series]:
    """Read each JSON key of the template; non-JSON lines have no match."""
    line = pl.col("line")
    # Bracket notation: keys such as "@timestamp" or "http.host" are not valid in "$.key".
    exprs = [line.str.json_path_match(f'$["{key}"]').alias(var) for key, var in fmt.json_fields]
    valid = line.str.strip_chars().str.starts_with("{") & line.str.json_path_match("$").is_not_null()
    fields = lines.select(*exprs, valid.fill_null(False).alias("_valid"))
    return fields.drop("_valid"), fields.get_column("_valid")


def _timestamp(fields: pl.DataFrame) -> tuple[pl.Expr, pl.Expr, str]:
    """Expressions for the UTC timestamp and the logged offset, from the best time variable."""
    names = set(fields.columns)
    if "time_local" in names:
        raw = pl.col("time_local")
        ts = raw.str.strptime(pl.Datetime("us", "UTC"), "%d/%b/%Y:%H:%M:%S %z", strict=False)
        off = raw.str.slice(-5)
        return ts, _offset_minutes(off.str.slice(0, 1), off.str.slice(1, 2), off.str.slice(3, 2)), "time_local"
    if "time_iso8601" in names:
        raw = pl.col("time_iso8601").str.replace(r"Z$", "+00:00")
        ts = raw.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%:z", strict=False)
        off = raw.str.slice(-6)
        return ts, _offset_minutes(off.str.slice(0, 1), off.str.slice(1, 2), off.str.slice(4, 2)), "time_iso8601"
    raw = pl.col("msec").cast(pl.Float64, strict=False)
    ts = (raw * 1_000_000).round().cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return ts, pl.lit(None, pl.Int16), "msec"


def _offset_minutes(sign: pl.Expr, hours: pl.Expr, minutes: pl.Expr) -> pl.Expr:
    magnitude = hours.cast(pl.Int16, strict=False) * 60 + minutes.cast(pl.Int16, strict=False)
    return pl.when(sign == "-").then(-magnitude).otherwise(magnitude).cast(pl.Int16)


def _first_present(fields: pl.DataFrame, *names: str, dtype: pl.DataType = pl.String) -> pl.Expr:
    for name in names:
        if name in fields.columns:
            return pl.col(name)
    return pl.lit(None, dtype)


def parse_lines(
    lines: pl.DataFrame,
    fmt: LogFormat,
    *,
    user_field: str | None = "remote_user",
    session_field: str | None = None,
    not_after: dt.datetime | None = None,
    split: bool = True,
) -> ParsedChunk:
    """Parse a chunk of access-log lines.

    Args:
        lines: columns ``line_number`` (Int64, 1-based position in the source file) and
            ``line`` (String, without the trailing newline).
        fmt: the compiled ``log_format``.
        user_field: the variable (without ``$``) whose value is the signed-in user's id
            (FOOTFALL_USER_ID_FIELD, e.g. ``remote_user`` or ``upstream_http_x_user_id``);
            ``user_id`` is null when the format does not log it or it is ``-``.
        session_field: the variable carrying the session id (FOOTFALL_SESSION_FIELD, e.g.
            ``cookie_sessionid``), or ``None``; same rules, column ``session_id``.
        not_after: the latest time an event may have (an aware datetime: the clock of the
            job reading the lines plus FOOTFALL_FUTURE_TOLERANCE_S); a later line is
            quarantined as ``future_time``. None accepts any time.
        split: look for two records run together in the lines that do not match a text
            format (:mod:`parsers.run_together`); their records are parsed with ``split=False``.

    Returns:
        A :class:`ParsedChunk`. Every input line is in exactly one of ``events`` or
        ``quarantine``; a line holding two records run together gives one or two events with
        its line number. Request lines that are not HTTP (``-``, binary junk) are kept as
        events with ``method``, ``path``, ``query`` and ``protocol`` null.
    """
    lines = lines.select(pl.col("line_number").cast(pl.Int64), pl.col("line").cast(pl.String))
    length = lines.get_column("line").str.len_bytes()
    empty = lines.get_column("line").str.strip_chars().str.len_bytes() == 0
    too_long = length > MAX_LINE_BYTES
    # Lines too long for any sane format are not handed to the regex engine at all.
    candidate = lines.filter(~empty & ~too_long)
    if fmt.is_json:
        fields, matched = _extract_json(candidate, fmt)
        no_match_reason = REASON_BAD_JSON
    else:
        fields, matched = _extract_text(candidate, fmt)
        no_match_reason = REASON_NO_MATCH

    ts, offset, time_var = _timestamp(fields)
    status = _first_present(fields, "status").cast(pl.Int16, strict=False)
    typed = fields.with_columns(
        ts.alias("_ts"),
        offset.alias("_offset"),
        status.alias("_status"),
        pl.col(time_var).is_null().alias("_time_missing"),
        matched.alias("_matched"),
    )
    reason = (
        pl.when(~pl.col("_matched"))
        .then(pl.lit(no_match_reason))
        .when(pl.col("_time_missing"))
        .then(pl.lit(REASON_MISSING_TIME))
        .when(pl.col("_ts").is_null())
        .then(pl.lit(REASON_BAD_TIME))
        .when(pl.col("_status").is_null() & pl.lit("status" in fields.columns))
        .then(pl.lit(REASON_BAD_STATUS))
    )
    if not_after is not None:
        reason = reason.when(pl.col("_ts") > pl.lit(not_after.astimezone(dt.UTC))).then(pl.lit(REASON_FUTURE))
    typed = pl.concat([candidate, typed.with_columns(reason.otherwise(None).alias("_reason"))], how="horizontal")
    split_events = None
    if split and not fmt.is_json:
        typed, split_events = _split_run_together(
            typed, fmt, user_field=user_field, session_field=session_field, not_after=not_after
        )

    good = typed.filter(pl.col("_reason").is_null())
    # JSON string values are already unescaped by the JSON reader; unescaping them again would
    # turn two backslashes in a value (logged as "a\\\\b") into one, or a value "\\x41" into "A".
    events = _to_events(good, unescape=not fmt.is_json, user_field=user_field, session_field=session_field)
    if split_events is not None:
        events = pl.concat([events, split_events]).sort("line_number", maintain_order=True)
    quarantine = (
        pl.concat(
            [
                lines.filter(empty).with_columns(pl.lit(REASON_EMPTY).alias("reason")),
                lines.filter(too_long & ~empty).with_columns(pl.lit(REASON_TOO_LONG).alias("reason")),
                typed.filter(pl.col("_reason").is_not_null() & (pl.col("_reason") != _SPLIT)).select(
                    "line_number", "line", pl.col("_reason").alias("reason")
                ),
            ]
        )
        .select(list(QUARANTINE_SCHEMA))
        .cast(QUARANTINE_SCHEMA)
    )
    return ParsedChunk(events=events, quarantine=quarantine)


# The reason of a line whose records became events: neither an event row of its own nor quarantined.
_SPLIT = "_split"


def _split_run_together(typed: pl.DataFrame, fmt: LogFormat, **parse_args) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Lines that did not match and hold two records run together (:mod:`parsers.run_together`).

    Each record is parsed on its own. When the following record parses, the line's events are
    it and the cut-off record (if that one parses too) with the line's number, and its
    ``_reason`` becomes :data:`_SPLIT`; when it does not, the line stays quarantined with the
    following record's reason. Returns ``typed`` updated, and the events (None: no line split).
    """
    mismatched = typed.filter(pl.col("_reason") == REASON_NO_MATCH).select("line_number", "line")
    records = split_records(mismatched, fmt).with_row_index("_record").with_columns(pl.col("_record").cast(pl.Int64))
    if not records.height:
        return typed, None
    # A record's row in ``records`` is its line number while it is parsed: the two records of a
    # line then stay apart, and each maps back to its physical line.
    parsed = parse_lines(records.select(pl.col("_record").alias("line_number"), "line"), fmt, split=False, **parse_args)
    following = records.filter(pl.col("part") == PART_FOLLOWING)
    parsed_ids = parsed.events.get_column("line_number")
    whole = following.filter(pl.col("_record").is_in(parsed_ids.implode())).get_column("line_number")
    events = (
        parsed.events.rename({"line_number": "_record"})
        .join(records.select("_record", "line_number"), on="_record", how="left", maintain_order="left")
        .filter(pl.col("line_number").is_in(whole.implode()))
        .select(parsed.events.columns)
    )
    reasons = following.join(
        parsed.quarantine.select(pl.col("line_number").alias("_record"), "reason"), on="_record", how="inner"
    ).select("line_number", pl.col("reason").alias("_split_reason"))
    outcome = pl.concat([reasons, whole.to_frame().with_columns(pl.lit(_SPLIT).alias("_split_reason"))])
    typed = (
        typed.join(outcome, on="line_number", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_split_reason", "_reason").alias("_reason"))
        .drop("_split_reason")
    )
    return typed, events


def _to_events(
    good: pl.DataFrame, *, unescape: bool = True, user_field: str | None = None, session_field: str | None = None
) -> pl.DataFrame:
    cols = set(good.columns)
    for name in escaped_variables(user_field, session_field):
        if unescape and name in cols:
            good = good.with_columns(unescape_column(good.get_column(name)))
    # Every logged value, escaped or not (a raw control byte in $host, a JSON "\u0000").
    values = [c for c, t in good.schema.items() if t == pl.String and c != "line" and not c.startswith("_")]
    good = good.with_columns(escape_controls(good.get_column(c)) for c in values)

    if "request" in cols:
        request = pl.col("request")
    elif "request_method" in cols and ("request_uri" in cols or "uri" in cols):
        target = pl.col("request_uri") if "request_uri" in cols else pl.col("uri")
        if "request_uri" not in cols and "args" in cols:
            target = (
                pl.when(pl.col("args").is_in(["", "-"]))
                .then(target)
                .otherwise(pl.concat_str(target, pl.lit("?"), pl.col("args")))
            )
        protocol = pl.col("server_protocol") if "server_protocol" in cols else pl.lit("")
        request = pl.concat_str(pl.col("request_method"), pl.lit(" "), target, pl.lit(" "), protocol).str.strip_chars()
    else:
        request = pl.lit(None, pl.String)
    good = pl.concat([good, split_request(good.with_columns(request.alias("_request"))["_request"])], how="horizontal")
    out = good.select(
        pl.col("line_number"),
        _first_present(good, "remote_addr", "realip_remote_addr").alias("remote_addr"),
        pl.col("_ts").alias("ts"),
        pl.col("_offset").alias("utc_offset_minutes"),
        "method",
        "path",
        "query",
        "protocol",
        pl.col("_status").alias("status"),
        _first_present(good, "body_bytes_sent", "bytes_sent").cast(pl.Int64, strict=False).alias("bytes_sent"),
        _first_present(good, "http_referer").alias("referrer"),
        _first_present(good, "http_user_agent").alias("user_agent"),
        (_first_present(good, user_field) if user_field else pl.lit(None, pl.String)).alias("user_id"),
        (_first_present(good, session_field) if session_field else pl.lit(None, pl.String)).alias("session_id"),
        _first_present(good, "host", "http_host", "server_name").alias("host"),
        _first_present(good, "request_time").cast(pl.Float64, strict=False).alias("request_time"),
        _first_present(good, "http_x_forwarded_for").alias("x_forwarded_for"),
    )
    out = out.with_columns(null_markers(c) for c in DASH_IS_NULL)
    return out.select(list(PARSED_SCHEMA)).cast(PARSED_SCHEMA)


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
