"""The text parser's regular expressions, for ``log_format``s the tokenizer has no template for.

The compiled tokenizer (:mod:`parsers.fast_path`) walks the common text formats. A few it does
not (a ``$msec`` time, a quoted time or status, a request logged as ``$request_method
$request_uri`` without ``$request``, a variable whose value could run into the literal after it:
:func:`parsers.fast_path.compile_template` says which). For those the format's anchored regular
expression (:func:`parsers.log_format.compile_log_format`) takes each line apart, column-wise
with polars, and :func:`parsers.fields.parse_fields` types it and decides its reason.
"""

from __future__ import annotations

import functools

import polars as pl

from parsers.fields import parse_fields
from parsers.log_format import LogFormat
from parsers.run_together import parse_run_together
from parsers.values import REASON_NO_MATCH, ParsedChunk, ParseOptions


def _extract_text(lines: pl.DataFrame, fmt: LogFormat) -> tuple[pl.DataFrame, pl.Series]:
    """Match the format regex; returns one string column per variable and a match mask."""
    assert fmt.regex is not None
    fields = lines.select(pl.col("line").str.extract_groups(fmt.regex).alias("m")).unnest("m")
    fields.columns = list(fmt.variables)
    matched = fields.get_column(fmt.variables[0]).is_not_null()
    return fields, matched


def parse_by_regex(lines: pl.DataFrame, fmt: LogFormat, options: ParseOptions, *, split: bool = True) -> ParsedChunk:
    """Parse lines of a text ``log_format`` with its regular expression.

    Args:
        lines: columns ``line_number`` (Int64) and ``line`` (String, without its newline).
        fmt: a compiled text ``log_format``.
        options: the user and session fields, the latest time a line may have.
        split: look for two records run together in the lines that do not match
            (:mod:`parsers.run_together`); their records are parsed with ``split=False``.

    Returns:
        A :class:`parsers.values.ParsedChunk`, as :func:`parsers.access_log.parse_lines`.
    """
    records = functools.partial(parse_by_regex, fmt=fmt, options=options, split=False)
    run_together = functools.partial(parse_run_together, fmt=fmt, parse=records) if split else None
    return parse_fields(lines, fmt, _extract_text, REASON_NO_MATCH, options, unescape=True, split=run_together)
