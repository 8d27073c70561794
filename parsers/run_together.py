"""Split a physical line that holds two access-log records run together.

A writer that loses a line end (Apache cutting a long user agent off and dropping its closing
quote and newline, a process killed mid-write, two writers on one file) leaves one physical
line with a record cut off inside a quoted value, followed at once by the next record (one
line here, wrapped)::

    1.2.3.4 - - [20/May/2015:12:05:17 +0000] "GET /a HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Goog
    5.6.7.8 - - [20/May/2015:12:05:25 +0000] "GET /robots.txt HTTP/1.1" 200 - "-" "curl/8.0"

Both requests happened. GoAccess counts the first (its user agent runs to the next quote);
footfall counts both, each once:

* the *following* record is the longest suffix of the line that is a whole record of the
  format, starting right after the cut-off (or closed) quoted value of the record before it;
* the *cut-off* record is completed as nginx logs missing values: its cut value is closed and
  every variable after it is ``-``. It is a record when its fields up to the cut are whole
  (a time, a status, a client address): a cut in the user agent or the referrer keeps it, a cut
  in the request line does not (the status is missing).

Where the following record starts is ambiguous when the format begins with a variable and the
cut value runs straight into it (``...Goog5.6.7.8 - - [``). The split is then placed after the
last double quote in that run (nginx and Apache escape quotes inside values, so a bare quote
ends a value), and, when the format begins with the client address (``$remote_addr``,
``$realip_remote_addr``), just before the longest IPv4 or IPv6 address ending the run. A line
whose run ends in no valid address is not split. The address is read as it was logged; a cut
value that ends in digits can still lend one to it (``Safari/5`` then ``1.2.3.4`` reads as
``51.2.3.4``): the count is right, the visitor of that one record may not be.

Only lines that do not match the format come here (the text parser hands over those it finds
no match in), and the search is one linear-time regular expression per quoted variable over
those lines, so ordinary lines cost nothing and a hostile line cannot cost more than a linear
scan. The records found are parsed by the format's own parser. Text formats only: a JSON log's
run-together objects stay ``invalid_json``. Lines with three or more records run together are
not split.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import polars as pl

from parsers.log_format import ADDRESS_VARIABLES, LogFormat
from parsers.values import PARSED_SCHEMA, ParsedChunk
from parsers.variables import QUOTED_VALUE

# QUOTED_VALUE, lazy: the shortest cut-off value after which a whole record follows, i.e. the
# longest following record.
_QUOTED_LAZY = QUOTED_VALUE.replace("*", "*?")
# The longest text form of an address: an IPv6 address with an IPv4 tail.
_MAX_ADDRESS_CHARS = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")

# Columns of the frame split_records returns.
PART_CUT_OFF, PART_FOLLOWING = 0, 1


def _split_patterns(fmt: LogFormat) -> list[tuple[int, str]]:
    """Per quoted variable (last first), a regex of a line cut off inside it and followed by a
    whole record: group 1 is the cut-off record up to the cut, group 2 the following record."""
    assert fmt.regex is not None and fmt.regex.startswith("^") and fmt.regex.endswith("$")
    record = fmt.regex[1:-1]
    out = []
    for i in reversed(range(len(fmt.variables))):
        before, after = fmt.literals[i], fmt.literals[i + 1]
        if not (before.endswith('"') and after.startswith('"')):
            continue
        head = "".join(re.escape(fmt.literals[j]) + f"(?:{fmt.patterns[j]})" for j in range(i))
        out.append((i, f'^({head}{re.escape(before)}{_QUOTED_LAZY})"?({record})$'))
    return out


def _completion(fmt: LogFormat, cut: int) -> str:
    """The text that closes variable ``cut`` and logs every later variable as ``-``."""
    rest = range(cut + 1, len(fmt.variables))
    return fmt.literals[cut + 1] + "".join("-" + fmt.literals[j + 1] for j in rest)


def _first_value_end(fmt: LogFormat) -> str | None:
    """The byte that ends the first variable's value when the format starts with that variable
    and its value is "anything up to" that byte (``[^X]*``); None when the record start is
    fixed by a literal or a typed value."""
    if fmt.literals[0] or len(fmt.variables) < 2 or not fmt.literals[1]:
        return None
    stop = fmt.literals[1][0]
    return stop if fmt.patterns[0] == f"[^{re.escape(stop)}]*" else None


def _valid_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _place_split(fmt: LogFormat, cut: str, following: str) -> tuple[str, str] | None:
    """Move the split into the following record's first value (see the module docstring);
    None when the format starts with the client address and the run ends in none."""
    stop = _first_value_end(fmt)
    if stop is None:
        return cut, following
    value = following[: following.index(stop)]
    start = value.rfind('"') + 1
    if fmt.variables[0] in ADDRESS_VARIABLES:
        first = max(start, len(value) - _MAX_ADDRESS_CHARS)
        start = next((j for j in range(first, len(value)) if _valid_address(value[j:])), None)
        if start is None:
            return None
    return cut + value[:start], following[start:]


def split_records(lines: pl.DataFrame, fmt: LogFormat) -> pl.DataFrame:
    """The records of lines where a cut-off record runs into a whole one.

    Args:
        lines: columns ``line_number`` (Int64) and ``line`` (String): lines of a text format
            that do not match it.
        fmt: the compiled text ``log_format``.

    Returns:
        Columns ``line_number`` (of the physical line), ``part`` (Int8: :data:`PART_CUT_OFF`
        for the cut-off record, completed with ``-`` for its missing values, and
        :data:`PART_FOLLOWING` for the whole record after it) and ``line`` (the record's text),
        two rows per line that splits, none for the others. Whether each record parses is for
        the parser to decide.
    """
    empty = pl.DataFrame(schema={"line_number": pl.Int64, "part": pl.Int8, "line": pl.String})
    patterns = [] if fmt.is_json else _split_patterns(fmt)
    if not patterns or not lines.height:
        return empty
    # Both records hold every literal before the first quoted value: a line with that text
    # once at most cannot split (a log in the wrong format costs a count, not the regexes).
    first_quoted = patterns[-1][0]
    anchor = max(fmt.literals[: first_quoted + 1], key=len)
    remaining = lines.filter(pl.col("line").str.count_matches(anchor, literal=True) >= 2) if anchor else lines
    rows: list[tuple[int, int, str]] = []
    for cut_var, pattern in patterns:
        if not remaining.height:
            break
        found = remaining.with_columns(
            pl.col("line").str.extract(pattern, 1).alias("_cut"), pl.col("line").str.extract(pattern, 2).alias("_next")
        )
        hit = found.get_column("_next").is_not_null()
        # Python per line from here: these are the rare lines that split.
        for number, cut, following in found.filter(hit).select("line_number", "_cut", "_next").iter_rows():
            placed = _place_split(fmt, cut, following)
            if placed is None:
                continue
            cut, following = placed
            if cut.endswith('"'):  # the cut-off value was closed after all: its record is whole up to here
                cut = cut[:-1]
            rows.append((number, PART_CUT_OFF, cut + _completion(fmt, cut_var)))
            rows.append((number, PART_FOLLOWING, following))
        remaining = found.filter(~hit).select("line_number", "line")
    if not rows:
        return empty
    return pl.DataFrame(rows, schema=empty.schema, orient="row")


def parse_run_together(
    lines: pl.DataFrame, fmt: LogFormat, parse: Callable[[pl.DataFrame], ParsedChunk]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The events of lines that hold two records run together.

    Args:
        lines: columns ``line_number`` (Int64) and ``line`` (String): lines of a text format
            that do not match it.
        fmt: the compiled text ``log_format``.
        parse: the format's parser, for a frame of records (``line_number``, ``line``) that
            are not to be split again.

    Returns:
        ``(events, outcome)``. ``events``: columns of :data:`parsers.values.PARSED_SCHEMA`,
        the events of each line whose following record parses (that record, and the cut-off
        one when it parses too), with the physical line's number. ``outcome``: columns
        ``line_number`` and ``reason`` (String), one row per line that splits: ``reason`` is
        null when its records became events, else the following record's quarantine reason.
        Lines that do not split are in neither.
    """
    records = split_records(lines, fmt).with_row_index("_record").with_columns(pl.col("_record").cast(pl.Int64))
    if not records.height:
        return pl.DataFrame(schema=PARSED_SCHEMA), pl.DataFrame(schema={"line_number": pl.Int64, "reason": pl.String})
    # A record's row in ``records`` is its line number while it is parsed: the two records of a
    # line then stay apart, and each maps back to its physical line.
    parsed = parse(records.select(pl.col("_record").alias("line_number"), "line"))
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
    ).select("line_number", "reason")
    outcome = pl.concat([reasons, whole.to_frame().with_columns(pl.lit(None, pl.String).alias("reason"))])
    return events, outcome
