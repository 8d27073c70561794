"""What publishing a snapshot costs: seconds and bytes at ~2M and ~20M events.

Usage (from the repo root)::

    make bench-snapshot                                   # ~2M lines (10 copies of the wordpress log)
    make bench-snapshot BENCH_ARGS="--lines 20000000"     # ~20M lines (97 copies)

Builds the same input as bench/ingest_bench.py (``../shared/data/real/wordpress_access3.log.gz``
repeated), ingests it with the pipeline's own steps (discover, parse_source, commit,
aggregate; aggregate publishes the first generation), then publishes ``--repeat`` more
generations from the write connection, as every later ingest run does, and times each
(``warehouse.snapshot.publish``: copy into a new DuckDB file, record it, switch the stable
path, delete the previous generation once its settle time is over). Also timed: a reader's
first query on the new generation (``select count(*) from events``, which reads every
registered Parquet file's footer and row counts).

Prints seconds per publication (min / median / max), the generation file's size beside the
warehouse's and the events' Parquet, the rows copied, and the machine load (``/proc/loadavg``)
before and after. The caveats of bench/ingest_bench.py about identical copies apply.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    from ingest_bench import DEFAULT_LINES, SOURCE, build_input, count_source

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    parser.add_argument("--repeat", type=int, default=5, help="publications timed after the ingest")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)

    from warehouse import snapshot, storage
    from warehouse.aggregation import aggregate
    from warehouse.ingest.commit import commit
    from warehouse.ingest.parse_job import ParseJob, parse_source
    from warehouse.ingest.planning import discover
    from warehouse.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="footfall-snapshot-bench-", dir=args.workdir))
    try:
        per_copy, _ = count_source(SOURCE)
        copies = -(-args.lines // per_copy)
        (work / "logs").mkdir()
        build_input(SOURCE, work / "logs" / "access.log", copies, gzipped=False)
        settings = Settings.from_env(
            {
                "FOOTFALL_LOG_GLOB": str(work / "logs" / "access.log"),
                "FOOTFALL_DATA_DIR": str(work / "data"),
                "FOOTFALL_SECRETS_DIR": str(work / "secrets"),
                "FOOTFALL_HASH_KEY": "bench-key-not-a-secret",
            }
        )
        before = load()
        started = time.perf_counter()
        plans = discover(settings)
        end = dt.datetime.now(dt.UTC)
        results = [parse_source(ParseJob.from_settings(settings), plan, "bench", end.date()) for plan in plans]
        committed = commit(settings, results, "bench", end)
        aggregate(settings, committed["days"])
        print(f"ingested {copies} x {per_copy:,} lines in {time.perf_counter() - started:.0f} s", flush=True)

        con = storage.connect(settings.data_dir)
        seconds, reads = [], []
        try:
            for _ in range(args.repeat):
                started = time.perf_counter()
                info = snapshot.publish(con, settings, "publish")
                seconds.append(time.perf_counter() - started)
                started = time.perf_counter()
                reader = snapshot.connect(settings.data_dir)
                (events,) = reader.execute("select count(*) from events").fetchone()
                reader.close()
                reads.append(time.perf_counter() - started)
            tables = snapshot.snapshot_tables()
            rows = sum(con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables)
            (files,) = con.execute(
                "select count(*) from snapshot_files where generation = ?", [info.generation]
            ).fetchone()
        finally:
            con.close()
        after = load()
        size = info.path.stat().st_size
        warehouse = settings.warehouse_path.stat().st_size
        parquet = sum(p.stat().st_size for p in settings.events_dir.rglob("*.parquet"))
        print()
        print(f"events       {events:,} in {files:,} Parquet files ({parquet / 1e6:,.1f} MB)")
        print(f"machine      {os.cpu_count()} cores; load average (1, 5, 15 min) before {before}, after {after}")
        spread = lambda xs: f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f} s"  # noqa: E731
        print(
            f"publication  {spread(seconds)} (min / median / max of {args.repeat}; "
            f"includes the {snapshot.SETTLE_S} s settle wait)"
        )
        print(f"first read   {spread(reads)} (open the new generation, count the events)")
        print(f"size         {size / 1e6:,.1f} MB per generation ({rows:,} rows in {len(tables)} tables);"
              f" warehouse.duckdb {warehouse / 1e6:,.1f} MB")  # fmt: skip
        print("disk         the current generation, plus any an open reader still holds")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
