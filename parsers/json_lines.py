"""The parser of JSON ``log_format``s (nginx ``escape=json``): one JSON object per line.

Each key of the template is read with polars' JSON path (column-wise, no Python loop per line);
a line that is not a JSON object is ``invalid_json``. JSON string values come unescaped by the
JSON reader, so nginx's ``\\xXX`` escapes are not undone again (a logged ``"a\\\\\\\\b"`` stays
two backslashes, a value ``"\\\\x41"`` stays that text); control characters are still written as
``\\xNN`` text (:func:`parsers.values.escape_controls`). Records run together are not split:
such a line is ``invalid_json``.
"""

from __future__ import annotations

import polars as pl

from parsers.fields import parse_fields
from parsers.log_format import LogFormat
from parsers.values import REASON_BAD_JSON, ParsedChunk, ParseOptions


def _extract_json(lines: pl.DataFrame, fmt: LogFormat) -> tuple[pl.DataFrame, pl.Series]:
    """Read each JSON key of the template; non-JSON lines have no match."""
    line = pl.col("line")
    # Bracket notation: keys such as "@timestamp" or "http.host" are not valid in "$.key".
    exprs = [line.str.json_path_match(f'$["{key}"]').alias(var) for key, var in fmt.json_fields]
    valid = line.str.strip_chars().str.starts_with("{") & line.str.json_path_match("$").is_not_null()
    fields = lines.select(*exprs, valid.fill_null(False).alias("_valid"))
    return fields.drop("_valid"), fields.get_column("_valid")


def parse_json_lines(lines: pl.DataFrame, fmt: LogFormat, options: ParseOptions) -> ParsedChunk:
    """Parse lines of a JSON ``log_format``.

    Args:
        lines: columns ``line_number`` (Int64) and ``line`` (String, without its newline).
        fmt: a compiled JSON ``log_format`` (``fmt.is_json``).
        options: the user and session fields, the latest time a line may have.

    Returns:
        A :class:`parsers.values.ParsedChunk`, as :func:`parsers.access_log.parse_lines`;
        reasons ``empty_line``, ``line_too_long``, ``invalid_json``, ``missing_time`` (a key of
        the time variable absent), ``invalid_time``, ``invalid_status``, ``future_time``.
    """
    return parse_fields(lines, fmt, _extract_json, REASON_BAD_JSON, options, unescape=False)
