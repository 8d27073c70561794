"""CSV answers of the analytics API (``GET export/``).

One function writes every CSV the API sends, through the warehouse's own defence against
spreadsheet formulas (:func:`warehouse.export.neutralise_formulas`): a CSV is opened in
spreadsheets, and text from the logs must never run there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from warehouse.export import neutralise_formulas


def write_csv(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """UTF-8 CSV text: a header row, then ``rows`` (comma-separated, quoted as RFC 4180 says,
    ``\\n`` line ends, empty cells for None), text cells that a spreadsheet would run as a
    formula made inert."""
    frame = pl.DataFrame([list(row) for row in rows], schema=list(columns), orient="row")
    return neutralise_formulas(frame).write_csv()
