"""A reader of the published snapshot in a process of its own, as an analyst's session is.

``python tests/snapshot_probe.py hold PATH``: open PATH read-only once, print ``open``, then
answer each SQL line of stdin with one JSON line (``{"rows": [...]}`` or ``{"error": "..."}``)
until stdin closes: a session held open for as long as the test likes.

``python tests/snapshot_probe.py loop PATH OUT STOP``: until the file STOP exists, open PATH,
check that it is a complete snapshot, close it, and append one JSON line per opening to OUT:
``{"generation": n, "events": n}`` or ``{"error": "..."}``. Complete means: one
``snapshot_info`` row, every table and view readers use present, and the ``events`` view
readable in full with as many rows as its registered files hold.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

TABLES = ("daily_traffic", "traffic_hourly", "page_daily", "visitor_daily", "traffic_monthly", "dim_divisions")


def hold(path: str) -> None:
    con = duckdb.connect(path, read_only=True)
    print("open", flush=True)
    for line in sys.stdin:
        try:
            rows = con.execute(line).fetchall()
            print(json.dumps({"rows": [list(r) for r in rows]}, default=str), flush=True)
        except duckdb.Error as exc:
            print(json.dumps({"error": str(exc)}), flush=True)


def check(path: str) -> dict:
    con = duckdb.connect(path, read_only=True)
    try:
        (infos, generation) = con.execute("select count(*), max(generation) from snapshot_info").fetchone()
        if infos != 1:
            return {"error": f"snapshot_info has {infos} rows"}
        for table in TABLES:
            con.execute(f"select count(*) from {table}").fetchone()
        (events,) = con.execute("select count(*) from events").fetchone()
        (registered,) = con.execute(
            "select coalesce(sum(row_count), 0) from ingest_files where kind = 'events'"
        ).fetchone()
        if events != registered:
            return {"error": f"events has {events} rows, its files {registered}"}
        return {"generation": generation, "events": events}
    finally:
        con.close()


def loop(path: str, out: str, stop: str) -> None:
    with open(out, "a", encoding="utf-8") as results:
        while not Path(stop).exists():
            try:
                result = check(path)
            except (duckdb.Error, OSError) as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"}
            results.write(json.dumps(result) + "\n")
            results.flush()
            time.sleep(0.01)


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        hold(sys.argv[2])
    else:
        loop(*sys.argv[2:5])
