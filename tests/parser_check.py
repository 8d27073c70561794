"""Compare footfall's parse of a chunk with the oracle's (tests/oracle_parser.py), line for line.

Every line must end in the same place in both: the same events with equal values (two for a
line of two records run together), or quarantine with the same reason and the line as read.
"""

from __future__ import annotations

import math
from collections import Counter

import oracle_parser
import polars as pl

from parsers.fast_path import CodedChunk, compile_template, parse_chunk
from parsers.log_format import compile_log_format
from parsers.values import PARSED_SCHEMA


def _comparable(row: dict) -> tuple:
    """A row in PARSED_SCHEMA order; NaN as text, so that equal rows compare equal."""
    return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in (row[c] for c in PARSED_SCHEMA))


def production_rows(events: pl.DataFrame) -> list[tuple]:
    """footfall's events (plain frame) as comparable rows, ``ts`` in microseconds since the epoch."""
    plain = events.select(list(PARSED_SCHEMA)).with_columns(pl.col("ts").dt.epoch("us"))
    return sorted((_comparable(r) for r in plain.to_dicts()), key=repr)


def oracle_rows(events: list[dict]) -> list[tuple]:
    return sorted((_comparable(r) for r in events), key=repr)


def assert_rows_equal(got: list[tuple], want: list[tuple]) -> None:
    """Equal multisets of rows; on a difference, the rows of the first line that differs."""
    if got == want:
        return
    line = min(r[0] for r in (Counter(got) - Counter(want)) + (Counter(want) - Counter(got)))
    columns = list(PARSED_SCHEMA)
    mine = [dict(zip(columns, r, strict=True)) for r in got if r[0] == line]
    theirs = [dict(zip(columns, r, strict=True)) for r in want if r[0] == line]
    raise AssertionError(f"line {line}: footfall {mine} != oracle {theirs}")


def assert_matches_oracle(
    data: bytes,
    fmt_text: str = "combined",
    *,
    first_line: int = 1,
    user_field: str | None = "remote_user",
    session_field: str | None = None,
    not_after=None,
    template_expected: bool | None = True,
) -> CodedChunk:
    """footfall's :func:`parsers.fast_path.parse_chunk` of ``data`` equals the oracle's parse.

    ``template_expected``: whether the format should take the tokenizer (None: either).
    Returns footfall's chunk, for further checks.
    """
    fields = {"user_field": user_field, "session_field": session_field, "not_after": not_after}
    fmt = compile_log_format(fmt_text)
    template = compile_template(fmt, user_field, session_field)
    if template_expected is not None:
        assert (template is not None) == template_expected, "the format takes the other path than expected"
    chunk = parse_chunk(data, first_line, fmt, template, **fields)
    want_events, want_quarantine = oracle_parser.parse(data, fmt_text, first_line, **fields)
    assert_rows_equal(production_rows(chunk.events.decode()), oracle_rows(want_events))
    got_quarantine = sorted(chunk.quarantine.select("line_number", "reason", "line").rows())
    assert got_quarantine == sorted(want_quarantine)
    numbered = {r["line_number"] for r in want_events} | {q[0] for q in want_quarantine}
    assert chunk.lines == len(numbered) == len(oracle_parser.read_lines(data))
    return chunk
