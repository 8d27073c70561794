"""Parse access-log lines already split, with their format's parser.

Each ``log_format`` has one parser: text formats the compiled tokenizer
(:mod:`parsers.fast_path`, which leaves formats it has no template for to their regular
expression, :mod:`parsers.text_regex`), JSON formats :mod:`parsers.json_lines`. The ingest
parses chunks of bytes (:func:`parsers.fast_path.parse_chunk`); :func:`parse_lines` is the same
parse for a frame of lines (a sample for a check, a test). The parsers are pure: they read no
files and keep no state, so chunks of one file can be parsed in any order or in parallel.

The columns, quarantine reasons and value rules every parser shares are in
:mod:`parsers.values` (and importable from here, where other packages have always found them).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from parsers.fast_path import compile_template, parse_text_frame
from parsers.json_lines import parse_json_lines
from parsers.log_format import LogFormat
from parsers.values import (
    MAX_LINE_BYTES,
    PARSED_SCHEMA,
    QUARANTINE_SCHEMA,
    REASON_FUTURE,
    ParsedChunk,
    ParseOptions,
    escape_controls,
)

# What other packages import from here.
__all__ = [
    "MAX_LINE_BYTES",
    "PARSED_SCHEMA",
    "QUARANTINE_SCHEMA",
    "REASON_FUTURE",
    "ParsedChunk",
    "escape_controls",
    "parse_lines",
]


def parse_lines(
    lines: pl.DataFrame,
    fmt: LogFormat,
    *,
    user_field: str | None = "remote_user",
    session_field: str | None = None,
    not_after: dt.datetime | None = None,
) -> ParsedChunk:
    """Parse a frame of access-log lines.

    Args:
        lines: columns ``line_number`` (Int64, 1-based position in the source file) and
            ``line`` (String, without the trailing newline; holding no newline).
        fmt: the compiled ``log_format``.
        user_field, session_field, not_after: as :class:`parsers.values.ParseOptions` (the
            user and session id variables, the latest time a line may have).

    Returns:
        A :class:`ParsedChunk`. Every input line is in exactly one of ``events`` or
        ``quarantine`` (which keeps the line as given); a line holding two records run together
        (:mod:`parsers.run_together`) gives one or two events with its line number. Request
        lines that are not HTTP (``-``, binary junk) are kept as events with ``method``,
        ``path``, ``query`` and ``protocol`` null.

    Raises:
        ValueError: a line of a text format holds a newline.
    """
    options = ParseOptions(user_field, session_field, not_after)
    if fmt.is_json:
        return parse_json_lines(lines, fmt, options)
    return parse_text_frame(lines, fmt, compile_template(fmt, user_field, session_field), options)
