"""Read-only queries on a test's warehouse file, shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import duckdb


def query(data_dir: Path, sql: str, params=()) -> list[tuple]:
    """Rows of ``sql`` on ``data_dir/warehouse.duckdb``, opened read-only in UTC (as analysts do)."""
    con = duckdb.connect(str(Path(data_dir) / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
