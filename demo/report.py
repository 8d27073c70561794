"""Print footfall's community views beside the generator's ground truth (the end of ``make demo``).

Usage::

    python -m demo.report GROUND_TRUTH_JSON

Reads the warehouse of ``FOOTFALL_DATA_DIR`` read-only and the ``ground_truth.json`` written
by :mod:`demo.traffic`, and prints, for the newest day: ``community_daily``,
``visitor_stats_7d``, ``conversions_daily`` of the last 7 days and ``current_visitors``,
each as footfall's rows, the expected rows, and whether they agree. A view footfall does not
have yet is reported as missing, not as an error. Exit status 1 when a view differs.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
from pathlib import Path
from typing import Any

SECTIONS = (
    # (title, SQL with ? for the newest day, key in ground_truth.json)
    ("community_daily, newest day", "select * from community_daily where day = ?", "community_daily_newest_day"),
    ("visitor_stats_7d", "select * from visitor_stats_7d", "visitor_stats_7d"),
    (
        "conversions_daily, last 7 days",
        "select * from conversions_daily where day between ?::date - 6 and ?",
        "conversions_daily_last_7_days",
    ),
    ("current_visitors", "select * from current_visitors", "current_visitors"),
)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | float):
        return f"{float(value):g}"
    return str(value)


def _table(rows: list[dict[str, Any]], out) -> None:
    if not rows:
        out.write("    (no rows)\n")
        return
    columns = list(rows[0])
    cells = [[_text(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out.write("    " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)) + "\n")
    for row in cells:
        out.write("    " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + "\n")


def _canonical(rows: list[dict[str, Any]]) -> list[list[str]]:
    return sorted([[k, _text(v)] for k, v in sorted(r.items())] for r in rows)


def report(data_dir: Path, ground_truth: dict[str, Any], out=sys.stdout) -> bool:
    """Print each section; True when every available view equals the ground truth."""
    import duckdb

    from warehouse import snapshot

    newest = dt.date.fromisoformat(ground_truth["newest_day"])
    con = snapshot.connect(data_dir)  # what analysts read: the published snapshot
    agree = True
    try:
        out.write(f"\nfootfall views beside the ground truth (newest day {newest}, UTC)\n")
        for title, sql, key in SECTIONS:
            expected = ground_truth[key]
            expected = expected if isinstance(expected, list) else [expected]
            out.write(f"\n{title}\n")
            try:
                cursor = con.execute(sql, [newest] * sql.count("?"))
                columns = [d[0] for d in cursor.description]
                actual = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            except duckdb.Error as exc:
                out.write(f"  footfall: not available ({str(exc).splitlines()[0]})\n  expected:\n")
                _table(expected, out)
                continue
            same = _canonical(actual) == _canonical(expected)
            agree &= same
            out.write("  footfall:\n")
            _table(actual, out)
            if same:
                out.write("  expected: the same\n")
            else:
                out.write("  expected (DIFFERENT):\n")
                _table(expected, out)
    finally:
        con.close()
    return agree


def main(argv: list[str] | None = None) -> int:
    from warehouse.settings import Settings

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    ground_truth = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    return 0 if report(Settings.from_env().data_dir, ground_truth) else 1


if __name__ == "__main__":
    sys.exit(main())
