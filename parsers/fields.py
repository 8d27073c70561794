"""From the values a line's fields hold to an event or a quarantine reason, column-wise.

The regular-expression parser of text formats (:mod:`parsers.text_regex`) and the JSON parser
(:mod:`parsers.json_lines`) take each line apart their own way, into one string column per
variable and a mask of the lines they could take apart; :func:`parse_fields` does the rest for
both: it types the time and the status, decides each line's quarantine reason (in the order of
:mod:`parsers.values`), and turns the other lines into events. It is pure: a polars frame of
lines in, a :class:`parsers.values.ParsedChunk` out, no Python loop per line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from parsers.log_format import LogFormat
from parsers.values import (
    DASH_IS_NULL,
    MAX_LINE_BYTES,
    PARSED_SCHEMA,
    QUARANTINE_SCHEMA,
    REASON_BAD_STATUS,
    REASON_BAD_TIME,
    REASON_EMPTY,
    REASON_FUTURE,
    REASON_MISSING_TIME,
    REASON_TOO_LONG,
    ParsedChunk,
    ParseOptions,
    escape_controls,
    escaped_variables,
    null_markers,
    split_request,
    unescape_column,
)

# Takes lines apart: (one String column per variable, Boolean mask of the lines it could).
Extract = Callable[[pl.DataFrame, LogFormat], tuple[pl.DataFrame, pl.Series]]
# Two records run together (parsers.run_together.parse_run_together): lines that could not be
# taken apart in, (their records' events, (line_number, reason) of the lines that split).
Split = Callable[[pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]]


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


# The reason of a line whose records became events: neither an event row of its own nor quarantined.
_SPLIT = "_split"


def parse_fields(
    lines: pl.DataFrame,
    fmt: LogFormat,
    extract: Extract,
    no_match_reason: str,
    options: ParseOptions,
    *,
    unescape: bool,
    split: Split | None = None,
) -> ParsedChunk:
    """Parse lines whose fields ``extract`` takes apart.

    Args:
        lines: columns ``line_number`` (Int64) and ``line`` (String, without its newline).
        fmt: the compiled ``log_format``.
        extract: takes the lines that are neither blank nor over :data:`MAX_LINE_BYTES` apart.
        no_match_reason: the reason of a line ``extract`` cannot take apart.
        options: the user and session fields, the latest time a line may have.
        unescape: undo nginx's and Apache's escapes in the escaped variables (not for JSON,
            whose reader already did).
        split: looks for two records run together in the lines ``extract`` cannot take apart.

    Returns:
        A :class:`ParsedChunk`: every line in exactly one of events (two for a line of two
        records run together) or quarantine, which keeps the line as it came in.
    """
    lines = lines.select(pl.col("line_number").cast(pl.Int64), pl.col("line").cast(pl.String))
    length = lines.get_column("line").str.len_bytes()
    empty = lines.get_column("line").str.strip_chars().str.len_bytes() == 0
    too_long = length > MAX_LINE_BYTES
    # Lines too long for any sane format are not handed to the regex engine at all.
    candidate = lines.filter(~empty & ~too_long)
    fields, matched = extract(candidate, fmt)

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
    if options.not_after is not None:
        limit = pl.lit(options.not_after.astimezone(dt.UTC))
        reason = reason.when(pl.col("_ts") > limit).then(pl.lit(REASON_FUTURE))
    typed = pl.concat([candidate, typed.with_columns(reason.otherwise(None).alias("_reason"))], how="horizontal")
    split_events = None
    if split is not None:
        mismatched = typed.filter(pl.col("_reason") == no_match_reason).select("line_number", "line")
        split_events, outcome = split(mismatched)
        typed = (
            typed.join(
                outcome.select("line_number", pl.col("reason").fill_null(_SPLIT).alias("_split_reason")),
                on="line_number",
                how="left",
                maintain_order="left",
            )
            .with_columns(pl.coalesce("_split_reason", "_reason").alias("_reason"))
            .drop("_split_reason")
        )

    good = typed.filter(pl.col("_reason").is_null())
    events = _to_events(good, unescape=unescape, user_field=options.user_field, session_field=options.session_field)
    if split_events is not None and split_events.height:
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
