"""The parser of text ``log_format``s: the compiled tokenizer decides every line.

1. ``parsers/_tokenizer.c`` walks each line once along the format's template
   (:mod:`parsers.template`), parses the time, the status and the byte count, and interns every
   other value it needs into a dictionary of the chunk's distinct values. For each line it
   decides: an event, or why not (``empty_line``, ``line_too_long``, ``format_mismatch``,
   ``invalid_time``, ``future_time``). It runs without the GIL.
2. Unescaping, control characters, splitting the request line and nginx's ``-`` markers are
   applied once per distinct value (:mod:`parsers.values`).
3. In the lines that do not match, :mod:`parsers.run_together` looks for two records run
   together (the only regular expressions on this path); their records are parsed by the
   tokenizer too.

Formats the tokenizer has no template for are parsed by their regular expression
(:mod:`parsers.text_regex`); JSON formats by :mod:`parsers.json_lines`. :func:`parse_chunk` is
the entry for a chunk of bytes of any format (the ingest's), :func:`parse_text_frame` for text
lines already split. The events, values and reasons of every path are compared line for line
with an independent parser in the tests (``tests/oracle_parser.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from parsers import _tokenizer
from parsers.coded import DIMENSIONS, ROW_COLUMNS, CodedEvents, code_column, factorize
from parsers.json_lines import parse_json_lines
from parsers.log_format import LogFormat
from parsers.run_together import parse_run_together
from parsers.template import E_INT, E_NONE, E_STATUS, E_TIME, Template, compile_template
from parsers.text_regex import parse_by_regex
from parsers.values import (
    MAX_LINE_BYTES,
    PARSED_SCHEMA,
    QUARANTINE_SCHEMA,
    REASON_BAD_TIME,
    REASON_EMPTY,
    REASON_FUTURE,
    REASON_NO_MATCH,
    REASON_TOO_LONG,
    ParsedChunk,
    ParseOptions,
    escape_controls,
    null_markers,
    split_request,
    unescape_column,
)

__all__ = ["CodedChunk", "Template", "as_utf8", "compile_template", "lines_frame", "parse_chunk", "parse_text_frame"]

# The tokenizer's reasons (R_* in parsers/_tokenizer.h).
_REASONS = {1: REASON_EMPTY, 2: REASON_TOO_LONG, 3: REASON_NO_MATCH, 4: REASON_BAD_TIME, 5: REASON_FUTURE}
_NO_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class CodedChunk:
    """One chunk parsed.

    Attributes:
        events: coded events (:class:`parsers.coded.CodedEvents`, columns of
            :data:`parsers.values.PARSED_SCHEMA`).
        quarantine: columns of :data:`parsers.values.QUARANTINE_SCHEMA`, the lines as read.
        lines: the number of lines read.
        slow_lines: how many of them the tokenizer did not decide alone: every line of a format
            without a template (parsed by its regular expression or as JSON), else the lines it
            found no match in (searched for two records run together).
    """

    events: CodedEvents
    quarantine: pl.DataFrame
    lines: int
    slow_lines: int


def as_utf8(data: bytes) -> bytes:
    """``data`` if it is UTF-8; otherwise with undecodable bytes as ``\\xXX`` text (nginx's own
    escaping)."""
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", "backslashreplace").encode("utf-8")


def lines_frame(data: bytes, first_line: int) -> pl.DataFrame:
    """Columns ``line_number`` (Int64, from ``first_line``) and ``line`` of UTF-8 ``data``
    (lines split at ``\\n``, each without one trailing ``\\r``)."""
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
    """Parse a chunk of whole lines of any ``log_format``.

    Args:
        data: the chunk's bytes, lines separated by ``\\n`` (a last line may lack it; one
            ``\\r`` before a line end is not part of the line); bytes that are not UTF-8 are
            read as ``\\xXX`` text.
        first_line: the 1-based line number of the first line in its source.
        fmt: the compiled ``log_format``; ``template``: :func:`compile_template` of it.
        user_field, session_field, not_after: as :class:`parsers.values.ParseOptions`.

    Returns:
        A :class:`CodedChunk`; every line is in exactly one of its events (two for a line of
        two records run together) or quarantine.
    """
    data = as_utf8(data)
    options = ParseOptions(user_field, session_field, not_after)
    if template is None:
        frame = lines_frame(data, first_line)
        parse = parse_json_lines if fmt.is_json else parse_by_regex
        parsed = parse(frame, fmt, options)
        return CodedChunk(CodedEvents.encode(parsed.events), parsed.quarantine, frame.height, frame.height)
    events, quarantine, lines, slow = _tokenize(data, fmt, template, options)
    rows = events.rows.with_columns(pl.col("line_number") + first_line)
    quarantine = quarantine.with_columns(pl.col("line_number") + first_line)
    return CodedChunk(CodedEvents(rows, events.dims), quarantine, lines, slow)


def parse_text_frame(
    lines: pl.DataFrame, fmt: LogFormat, template: Template | None, options: ParseOptions, *, split: bool = True
) -> ParsedChunk:
    """Parse text lines already split, as :func:`parse_chunk` parses them in a chunk.

    Args:
        lines: columns ``line_number`` (Int64) and ``line`` (String, holding no ``\\n``).
        fmt: a compiled text ``log_format``; ``template``: :func:`compile_template` of it.
        options: the user and session fields, the latest time a line may have.
        split: look for two records run together in the lines that do not match.

    Returns:
        A :class:`parsers.values.ParsedChunk` (plain events); quarantined lines as given.

    Raises:
        ValueError: a line holds a newline.
    """
    if template is None:
        return parse_by_regex(lines, fmt, options, split=split)
    text = lines.get_column("line")
    if text.str.contains("\n", literal=True).any():
        raise ValueError("a line holds a newline: split lines at newlines first")
    data = "\n".join(text.to_list()).encode() + (b"\n" if lines.height else b"")
    events, quarantine, _, _ = _tokenize(data, fmt, template, options, split=split)
    numbers = lines.get_column("line_number").cast(pl.Int64)
    plain = events.decode().select(list(PARSED_SCHEMA))
    plain = plain.with_columns(numbers.gather(plain.get_column("line_number")).alias("line_number"))
    index = quarantine.get_column("line_number")
    quarantine = quarantine.with_columns(numbers.gather(index).alias("line_number"), text.gather(index).alias("line"))
    return ParsedChunk(plain.cast(PARSED_SCHEMA), quarantine.select(list(QUARANTINE_SCHEMA)))


def _tokenize(
    data: bytes, fmt: LogFormat, template: Template, options: ParseOptions, *, split: bool = True
) -> tuple[CodedEvents, pl.DataFrame, int, int]:
    """Parse UTF-8 ``data`` with the tokenizer; line numbers are 0-based indexes in the chunk.

    Returns (events, quarantine, lines, lines found no match in)."""
    latest = _NO_LIMIT if options.not_after is None else _epoch_us(options.not_after)
    lines, accepted, rejected, outputs = _tokenizer.tokenize(data, template.spec, MAX_LINE_BYTES, latest)
    events = _coded_events(template, fmt, np.frombuffer(accepted, dtype=np.uint32), outputs)
    others = np.frombuffer(rejected, dtype=np.int64).reshape(-1, 4)
    quarantine = _rejected_lines(data, others)
    mismatched = quarantine.filter(pl.col("reason") == REASON_NO_MATCH)
    if split and mismatched.height:
        records = functools.partial(parse_text_frame, fmt=fmt, template=template, options=options, split=False)
        split_events, outcome = parse_run_together(mismatched.select("line_number", "line"), fmt, records)
        # A line whose records became events leaves the quarantine; one whose following record
        # is quarantined takes that record's reason.
        became_events = outcome.filter(pl.col("reason").is_null()).get_column("line_number")
        quarantine = (
            quarantine.filter(~pl.col("line_number").is_in(became_events.implode()))
            .join(outcome.rename({"reason": "_split"}), on="line_number", how="left", maintain_order="left")
            .select("line_number", pl.coalesce("_split", "reason").alias("reason"), "line")
        )
        events = CodedEvents.concat([events, CodedEvents.encode(split_events)])
    return events, quarantine, lines, mismatched.height


def _epoch_us(moment: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime, as the tokenizer counts time."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _rejected_lines(data: bytes, others: np.ndarray) -> pl.DataFrame:
    """The lines that are not events, as a quarantine frame (line_number = index in the chunk)."""
    if not len(others):
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    # One Arrow array over the chunk's buffer whose even values are the lines and odd values the
    # text between them (the spans are in order, so the offsets never decrease).
    offsets = np.ascontiguousarray(others[:, 1:3].reshape(-1))
    pieces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    texts = pieces.take(pa.array(np.arange(0, len(offsets) - 1, 2))).cast(pa.large_string())
    return pl.DataFrame(
        {
            "line_number": pl.Series(others[:, 0], dtype=pl.Int64),
            "reason": pl.Series(others[:, 3]).replace_strict(_REASONS, return_dtype=pl.String),
            "line": pl.Series(texts, dtype=pl.String),
        }
    )


def _strings(offsets: bytes, data: bytes) -> pl.Series:
    n = len(offsets) // 8 - 1
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return pl.Series(array, dtype=pl.String)


def _coded_events(template: Template, fmt: LogFormat, events: np.ndarray, outputs: tuple) -> CodedEvents:
    """The tokenizer's outputs as coded events; ``line_number`` is each line's index in the chunk."""
    n = len(events)
    rows: dict[str, pl.Series] = {"line_number": pl.Series(events.astype(np.int64))}
    interned: dict[str, tuple[pl.Series, pl.Series]] = {}
    for name, (_, _, emit, _), out in zip(fmt.variables, template.spec[0], outputs, strict=True):
        role = template.roles.get(name)
        if emit == E_NONE:
            continue
        if emit == E_TIME:
            rows["ts"] = pl.Series(np.frombuffer(out[0], dtype=np.int64)).cast(pl.Datetime("us", "UTC"))
            rows["utc_offset_minutes"] = pl.Series(np.frombuffer(out[1], dtype=np.int16))
        elif emit == E_STATUS:
            rows["status"] = pl.Series(np.frombuffer(out[0], dtype=np.int16))
        elif emit == E_INT:
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
