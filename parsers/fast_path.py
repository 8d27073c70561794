"""Parse a chunk of access-log bytes into coded events, with the compiled tokenizer.

The reference parser (:func:`parsers.access_log.parse_lines`) matches a regular expression per
line and then types, splits and unescapes every value. This module gets the same events for a
fraction of the cost (``docs/contributors/performance-history.md``):

1. ``parsers/_tokenizer.c`` walks each line once along the ``log_format`` template (the same
   template the regular expression is built from, :func:`parsers.log_format.compile_log_format`),
   parses the time and the status, and interns every other value it needs into a dictionary
   of the chunk's distinct values;
2. unescaping, splitting the request line and nginx's ``-`` markers are then applied once per
   distinct value (the same functions the reference parser uses);
3. every line the tokenizer does not accept (no match, empty, over-long, an unusual time) is
   handed to the reference parser, which decides whether it is an event or quarantined, and
   why. So the result equals the reference parser's on every line (tests/test_fast_path.py).

Text formats with ``$request``, a ``$time_local`` or ``$time_iso8601`` time and an unquoted
``$status`` take this path (``combined`` and the common nginx formats); other formats (JSON,
``$msec``, request parts without ``$request``) are parsed by the reference parser.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from parsers import _tokenizer
from parsers.access_log import (
    MAX_LINE_BYTES,
    PARSED_SCHEMA,
    QUARANTINE_SCHEMA,
    escape_controls,
    escaped_variables,
    null_markers,
    parse_lines,
    split_request,
    unescape_column,
)
from parsers.coded import DIMENSIONS, ROW_COLUMNS, CodedEvents, code_column, factorize
from parsers.log_format import LogFormat
from parsers.variables import variable_kind

# Kinds and emits: the enums of parsers/_tokenizer.c.
_K_UNTIL, _K_REST, _K_QUOTED = 0, 1, 2
_KINDS = {"time_local": 3, "time_iso8601": 4, "status": 5, "int": 6, "float": 7, "upstream_list": 8}
_E_NONE, _E_INTERN, _E_TIME, _E_STATUS, _E_INT = 0, 1, 2, 3, 4
_T_PLAIN, _T_OPTIONAL_QUOTE = 0, 1
_MAX_VARS = 64


@dataclass(frozen=True)
class Template:
    """A ``log_format`` compiled for the tokenizer.

    Attributes:
        spec: the tokenizer's template: ((literal, kind, emit, stop) per variable, tail, tail mode).
        roles: variable -> the parsed column it feeds (``ts``, ``status``, ``remote_addr``,
            ``x_forwarded_for``, ``request``, ``bytes_sent``, ``request_time``, ``referrer``,
            ``user_agent``, ``user_id``, ``session_id``, ``host``).
        escaped: the variables whose values are unescaped.
    """

    spec: tuple
    roles: dict[str, str]
    escaped: frozenset[str]


def _first(names: tuple[str, ...], present: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in present), None)


def compile_template(fmt: LogFormat, user_field: str | None, session_field: str | None) -> Template | None:
    """The tokenizer template of ``fmt``, or None when the format takes the reference parser.

    Args:
        fmt: a compiled ``log_format``.
        user_field, session_field: as :func:`parsers.access_log.parse_lines`.

    Returns:
        A :class:`Template`, or None for JSON formats, formats without ``$request``, with a
        ``$msec`` time or ``$msec`` anywhere unquoted, a quoted time or status, a variable
        with two roles, or a literal that starts with a non-ASCII character.
    """
    if fmt.is_json or "request" not in fmt.variables or len(fmt.variables) > _MAX_VARS:
        return None
    names, literals = fmt.variables, fmt.literals
    time_var = _first(("time_local", "time_iso8601"), names)
    if time_var is None:
        return None
    roles: dict[str, str] = {}
    wanted = {
        "ts": time_var,
        "status": "status",
        "remote_addr": _first(("remote_addr", "realip_remote_addr"), names),
        "x_forwarded_for": "http_x_forwarded_for",
        "request": "request",
        "bytes_sent": _first(("body_bytes_sent", "bytes_sent"), names),
        "request_time": "request_time",
        "referrer": "http_referer",
        "user_agent": "http_user_agent",
        "user_id": user_field,
        "session_id": session_field,
        "host": _first(("host", "http_host", "server_name"), names),
    }
    for role, var in wanted.items():
        if var is None or var not in names:
            continue
        if var in roles:
            return None
        roles[var] = role
    vars_ = []
    for i, name in enumerate(names):
        before, after = literals[i], literals[i + 1]
        quoted = before.endswith('"') and after.startswith('"')
        kind_name = variable_kind(name)
        if quoted:
            kind = _K_QUOTED
        elif kind_name in _KINDS:
            kind = _KINDS[kind_name]
        elif kind_name == "msec":
            return None
        elif after:
            if not after[0].isascii():
                return None
            kind = _K_UNTIL
        else:
            kind = _K_REST
        role = roles.get(name)
        if role == "ts":
            if quoted:
                return None
            emit = _E_TIME
        elif role == "status":
            if quoted:
                return None
            emit = _E_STATUS
        elif role == "bytes_sent" and kind == _KINDS["int"]:
            emit = _E_INT
        elif role is not None:
            emit = _E_INTERN
        else:
            emit = _E_NONE
        stop = ord(after[0]) if kind == _K_UNTIL else -1
        vars_.append((before.encode(), kind, emit, stop))
    tail = literals[-1]
    mode = _T_OPTIONAL_QUOTE if tail.endswith('"') else _T_PLAIN
    return Template(
        spec=(tuple(vars_), tail.encode(), mode),
        roles=roles,
        escaped=frozenset(escaped_variables(user_field, session_field)),
    )


@dataclass(frozen=True)
class CodedChunk:
    """One chunk parsed: ``events`` (coded, columns of :data:`PARSED_SCHEMA`), ``quarantine``
    (columns of :data:`QUARANTINE_SCHEMA`, raw lines), the number of ``lines`` read and how
    many of them the reference parser parsed (``reference_lines``: all of them without a
    template, else those the tokenizer did not accept)."""

    events: CodedEvents
    quarantine: pl.DataFrame
    lines: int
    reference_lines: int


def as_utf8(data: bytes) -> bytes:
    """``data`` if it is UTF-8; otherwise with undecodable bytes as ``\\xXX`` text (nginx's own
    escaping), as the reference parser reads it."""
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", "backslashreplace").encode("utf-8")


def lines_frame(data: bytes, first_line: int) -> pl.DataFrame:
    """Columns ``line_number`` (Int64, from ``first_line``) and ``line`` of UTF-8 ``data``."""
    frame = pl.read_lines(io.BytesIO(data), row_index_name="line_number", row_index_offset=first_line)
    return frame.with_columns(pl.col("line_number").cast(pl.Int64))


def parse_chunk(
    data: bytes,
    first_line: int,
    fmt: LogFormat,
    template: Template | None,
    *,
    user_field: str | None = "remote_user",
    session_field: str | None = None,
    not_after: dt.datetime | None = None,
) -> CodedChunk:
    """Parse a chunk of whole lines.

    Args:
        data: the chunk's bytes, lines separated by ``\\n`` (a last line may lack it).
        first_line: the 1-based line number of the first line in its source.
        fmt: the compiled ``log_format``; ``template``: :func:`compile_template` of it (None:
            the reference parser parses every line).
        user_field, session_field, not_after: as :func:`parsers.access_log.parse_lines` (the
            tokenizer leaves lines later than ``not_after`` to the reference parser, which
            quarantines them).

    Returns:
        A :class:`CodedChunk`; every line is in exactly one of its events or quarantine, with
        the values, types and reasons :func:`parsers.access_log.parse_lines` gives.
    """
    data = as_utf8(data)
    fields = {"user_field": user_field, "session_field": session_field, "not_after": not_after}
    if template is None:
        frame = lines_frame(data, first_line)
        parsed = parse_lines(frame, fmt, **fields)
        return CodedChunk(CodedEvents.encode(parsed.events), parsed.quarantine, frame.height, frame.height)
    latest = _NO_LIMIT if not_after is None else _epoch_us(not_after)
    lines, accepted, rejected, outputs = _tokenizer.tokenize(data, template.spec, MAX_LINE_BYTES, latest)
    fast = _coded_events(template, fmt, first_line, np.frombuffer(accepted, dtype=np.uint32), outputs)
    spans = np.frombuffer(rejected, dtype=np.int64).reshape(-1, 3)
    if not len(spans):
        return CodedChunk(fast, pl.DataFrame(schema=QUARANTINE_SCHEMA), lines, 0)
    parsed = parse_lines(_rejected_lines(data, spans, first_line), fmt, **fields)
    events = CodedEvents.concat([fast, CodedEvents.encode(parsed.events)])
    return CodedChunk(events, parsed.quarantine, lines, len(spans))


_NO_LIMIT = 2**63 - 1


def _epoch_us(moment: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime, as the tokenizer counts time."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _rejected_lines(data: bytes, spans: np.ndarray, first_line: int) -> pl.DataFrame:
    # One Arrow array over the chunk's buffer whose even values are the rejected lines and odd
    # values the text between them (spans are in order, so the offsets never decrease).
    offsets = np.ascontiguousarray(spans[:, 1:3].reshape(-1))
    pieces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    texts = pieces.take(pa.array(np.arange(0, len(offsets) - 1, 2))).cast(pa.large_string())
    return pl.DataFrame(
        {
            "line_number": pl.Series(spans[:, 0] + first_line, dtype=pl.Int64),
            "line": pl.Series(texts, dtype=pl.String),
        }
    )


def _strings(offsets: bytes, data: bytes) -> pl.Series:
    n = len(offsets) // 8 - 1
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return pl.Series(array, dtype=pl.String)


def _coded_events(
    template: Template, fmt: LogFormat, first_line: int, accepted: np.ndarray, outputs: tuple
) -> CodedEvents:
    n = len(accepted)
    rows: dict[str, pl.Series] = {"line_number": pl.Series(accepted.astype(np.int64) + first_line)}
    interned: dict[str, tuple[pl.Series, pl.Series]] = {}
    for name, (_, _, emit, _), out in zip(fmt.variables, template.spec[0], outputs, strict=True):
        role = template.roles.get(name)
        if emit == _E_NONE:
            continue
        if emit == _E_TIME:
            rows["ts"] = pl.Series(np.frombuffer(out[0], dtype=np.int64)).cast(pl.Datetime("us", "UTC"))
            rows["utc_offset_minutes"] = pl.Series(np.frombuffer(out[1], dtype=np.int16))
        elif emit == _E_STATUS:
            rows["status"] = pl.Series(np.frombuffer(out[0], dtype=np.int16))
        elif emit == _E_INT:
            values = pl.Series(np.frombuffer(out[0], dtype=np.int64))
            valid = pl.Series(np.frombuffer(out[1], dtype=np.uint8)).cast(pl.Boolean)
            rows[role] = pl.select(pl.when(valid).then(values)).to_series()
        else:
            values = _strings(out[1], out[2])
            if name in template.escaped:
                values = unescape_column(values)
            values = escape_controls(values)
            interned[role] = (pl.Series(np.frombuffer(out[0], dtype=np.uint32)), values.rename(role))
    for role, dtype in (("bytes_sent", pl.Int64), ("request_time", pl.Float64)):
        if role in interned:
            codes, values = interned.pop(role)
            rows[role] = values.cast(dtype, strict=False).gather(codes)
        elif role not in rows:
            rows[role] = pl.Series([None] * n, dtype=dtype)

    def text(role: str) -> tuple[pl.Series, pl.DataFrame]:
        if role not in interned:
            return pl.Series(np.zeros(n, dtype=np.uint32)), pl.DataFrame({role: [None]}, schema={role: pl.String})
        codes, values = interned[role]
        return codes, values.to_frame().select(null_markers(role))

    codes: dict[str, pl.Series] = {}
    dims: dict[str, pl.DataFrame] = {}
    for dim in ("referrer", "user_agent", "user_id", "session_id", "host"):
        codes[dim], dims[dim] = text(dim)
    request_codes, request = interned["request"]
    codes["request"], dims["request"] = request_codes, split_request(request)
    addr_codes, addrs = text("remote_addr")
    xff_codes, xffs = text("x_forwarded_for")
    if "x_forwarded_for" in interned:
        codes["client"], pairs = factorize([addr_codes.rename("a"), xff_codes.rename("x")], [addrs.height, xffs.height])
        dims["client"] = pl.concat(
            [addrs.select(pl.all().gather(pairs["a"])), xffs.select(pl.all().gather(pairs["x"]))], how="horizontal"
        )
    else:
        codes["client"] = addr_codes
        dims["client"] = addrs.with_columns(pl.lit(None, pl.String).alias("x_forwarded_for"))
    frame = pl.DataFrame(rows).select(ROW_COLUMNS).with_columns(codes[d].alias(code_column(d)) for d in DIMENSIONS)
    schema = {c: PARSED_SCHEMA[c] for d in DIMENSIONS for c in DIMENSIONS[d]}
    dims = {d: dims[d].select(DIMENSIONS[d]).cast({c: schema[c] for c in DIMENSIONS[d]}) for d in DIMENSIONS}
    return CodedEvents(frame, dims)
