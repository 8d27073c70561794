"""Parsed events as codes into dictionaries of distinct values ("coded" events).

A log repeats a handful of values many times: one client sends hundreds of hits with the same
address and user agent, a site has far fewer distinct paths than requests. So the text columns
of parsed events are kept as *dimensions*: a small frame of distinct values (one row per code)
and, per event, a UInt32 code into it. Everything that depends on a value only (unescaping,
splitting the request line, user-agent classification, GeoIP, routes, referrer classes, keyed
hashes) then runs once per distinct value on the dimension, and the per-event work is a code.
Only when events are written (:meth:`CodedEvents.select`) is a value copied per event.

:meth:`CodedEvents.decode` gives the plain frame (``parsers.access_log.PARSED_SCHEMA`` plus
whatever columns the dimensions gained), and :meth:`CodedEvents.encode` makes coded events from
a plain frame; the two are inverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from parsers import _tokenizer

# Dimension -> the parsed columns it holds. ``client`` is the pair (peer address, X-Forwarded-For
# header) because the client address behind trusted proxies depends on both.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "request": ("method", "path", "query", "protocol"),
    "client": ("remote_addr", "x_forwarded_for"),
    "referrer": ("referrer",),
    "user_agent": ("user_agent",),
    "user_id": ("user_id",),
    "session_id": ("session_id",),
    "host": ("host",),
}

# Columns with one value per event, as the fast path builds them (in this order).
ROW_COLUMNS = ("line_number", "ts", "utc_offset_minutes", "status", "bytes_sent", "request_time")


def code_column(dim: str) -> str:
    """The name of the per-row column of codes into dimension ``dim``."""
    return f"_{dim}_code"


@dataclass
class CodedEvents:
    """Events as per-row columns plus codes into dimensions.

    Attributes:
        rows: one row per event: the :data:`ROW_COLUMNS` (and columns added later, such as
            ``visitor_id``) and, per dimension, a UInt32 column :func:`code_column` holding
            each event's code (row index into ``dims[name]``; never null).
        dims: dimension name -> frame of its distinct values; row ``i`` is code ``i``. A
            dimension may hold a value twice (parts concatenated by :meth:`concat`): codes are
            only ever used to look values up, never compared to count distinct values.
    """

    rows: pl.DataFrame
    dims: dict[str, pl.DataFrame]

    @property
    def height(self) -> int:
        return self.rows.height

    def codes(self, dim: str) -> pl.Series:
        """The per-event codes into dimension ``dim`` (UInt32)."""
        return self.rows.get_column(code_column(dim))

    def with_dim(self, dim: str, frame: pl.DataFrame) -> CodedEvents:
        """These events with dimension ``dim`` replaced by ``frame`` (same row count: same codes)."""
        if frame.height != self.dims[dim].height:
            raise ValueError(f"dimension {dim} has {self.dims[dim].height} rows, its replacement {frame.height}")
        return CodedEvents(self.rows, {**self.dims, dim: frame})

    def dim_of(self, column: str) -> str | None:
        """The dimension holding ``column``, or None for a per-row column."""
        for name, frame in self.dims.items():
            if column in frame.columns:
                return name
        return None

    def column(self, name: str) -> pl.Series:
        """Column ``name`` with one value per event (dimension columns gathered by code)."""
        if name in self.rows.columns:
            return self.rows.get_column(name)
        dim = self.dim_of(name)
        if dim is None:
            raise KeyError(name)
        return self.dims[dim].get_column(name).gather(self.codes(dim))

    def select(self, names: Sequence[str]) -> pl.DataFrame:
        """A plain frame of columns ``names`` (see :meth:`column`), one row per event."""
        return pl.DataFrame([self.column(n) for n in names])

    def decode(self) -> pl.DataFrame:
        """The plain frame: every row column, then every dimension column, one value per event."""
        codes = {code_column(d) for d in self.dims}
        columns = [self.rows.get_column(c) for c in self.rows.columns if c not in codes]
        for dim, frame in self.dims.items():
            codes = self.codes(dim)
            columns.extend(frame.get_column(c).gather(codes) for c in frame.columns)
        return pl.DataFrame(columns)

    @classmethod
    def encode(cls, events: pl.DataFrame) -> CodedEvents:
        """Coded events from a plain frame.

        Each dimension of :data:`DIMENSIONS` with at least one of its columns in ``events``
        is built (its other columns null); the frame's other columns stay per-row columns.
        """
        rows = events.select(c for c in events.columns if not any(c in cols for cols in DIMENSIONS.values()))
        dims: dict[str, pl.DataFrame] = {}
        codes = []
        for dim, cols in DIMENSIONS.items():
            if not any(c in events.columns for c in cols):
                continue
            keys = events.select(pl.col(c) if c in events.columns else pl.lit(None, pl.String).alias(c) for c in cols)
            distinct = keys.unique(maintain_order=True)
            dims[dim] = distinct
            code = keys.join(
                distinct.with_row_index("_code"), on=list(cols), how="left", nulls_equal=True, maintain_order="left"
            ).get_column("_code")
            codes.append(code.cast(pl.UInt32).alias(code_column(dim)))
        return cls(rows.with_columns(codes), dims)

    @staticmethod
    def concat(parts: Sequence[CodedEvents]) -> CodedEvents:
        """Events of ``parts``, in order; each dimension is the parts' dimensions one after
        the other, with the later parts' codes shifted past the earlier ones."""
        parts = [p for p in parts if p.height] or list(parts[:1])
        if len(parts) == 1:
            return parts[0]
        dims = {}
        shifted = [p.rows for p in parts]
        for dim in parts[0].dims:
            offset = 0
            for i, part in enumerate(parts):
                shifted[i] = shifted[i].with_columns(pl.col(code_column(dim)) + offset)
                offset += part.dims[dim].height
            dims[dim] = pl.concat([p.dims[dim] for p in parts], how="vertical_relaxed")
        return CodedEvents(pl.concat(shifted, how="vertical_relaxed"), dims)


def factorize(columns: Iterable[pl.Series], sizes: Iterable[int]) -> tuple[pl.Series, pl.DataFrame]:
    """Codes of each row's combination of integer columns, and the distinct combinations.

    Args:
        columns: equally long integer Series with values in ``0 .. size - 1`` (no nulls).
        sizes: one bound per column.

    Returns:
        ``(codes, combos)``: UInt32 codes, one per row, and a frame with one row per distinct
        combination (columns named as the inputs, in order of first appearance) such that
        row ``codes[i]`` of ``combos`` is row ``i``'s combination.

    Raises:
        ValueError: the combinations do not fit in 64 bits (sizes multiply to 2**64 or more).
    """
    columns, sizes = list(columns), list(sizes)
    key = np.zeros(len(columns[0]), dtype=np.uint64)
    span = 1
    for col, size in zip(columns, sizes, strict=True):
        span *= max(size, 1)
        if span >= 2**64:
            raise ValueError(f"{len(columns)} columns of sizes {sizes} do not fit a 64-bit key")
        key = key * np.uint64(max(size, 1)) + col.to_numpy().astype(np.uint64, copy=False)
    codes, uniques = _tokenizer.factorize(np.ascontiguousarray(key))
    distinct = np.frombuffer(uniques, dtype=np.uint64)
    parts = {}
    for col, size in reversed(list(zip(columns, sizes, strict=True))):
        parts[col.name] = distinct % np.uint64(max(size, 1))
        distinct = distinct // np.uint64(max(size, 1))
    combos = pl.DataFrame({c.name: pl.Series(parts[c.name]).cast(c.dtype) for c in columns})
    return pl.Series("code", np.frombuffer(codes, dtype=np.uint32)), combos
