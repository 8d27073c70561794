"""CSV answers of the analytics API (``GET export/``).

One function writes every CSV the API sends, so that cells are made safe for spreadsheets in
one place.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence


def write_csv(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """UTF-8 CSV text: a header row, then ``rows``; comma-separated, ``\\r\\n`` line ends (RFC 4180),
    empty cells for None."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue()
