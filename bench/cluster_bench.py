"""Scaling benchmark: the ingest DAG on the CeleryExecutor cluster with 1 and with 2 worker hosts.

Usage (from the repo root)::

    make bench-cluster                                         # ~2M lines in 8 files, 1x2 and 2x2, 3 runs each
    make bench-cluster BENCH_ARGS="--files 32 --configs 1x2,2x2,1x4 --repeat 5 --json"
    .venv/bin/python bench/cluster_bench.py --help

What it does:

1. Builds the input as ``bench/ingest_bench.py`` does (``../shared/data/real/wordpress_access3.log.gz``
   decompressed, ten copies for ~2M lines) and splits it at line ends into ``--files`` plain
   logs (each a work unit or more: ``FOOTFALL_MAP_CHUNK_BYTES``, 64 MiB by default). The cut
   points are shifted so that no two files begin with the same bytes (footfall recognises a
   log by its first KiB: two files with the same beginning would be read as one).
2. Starts a cluster of its own (``deploy/cluster/up.sh`` in ``.cluster-bench/``, ports
   47300-47304, scheduled runs off) and, for each of ``--repeat`` rounds, runs the ingest
   DAG once per configuration of ``--configs``, each time into an empty shared data dir.
   A configuration is ``<worker hosts>x<task slots per host>``: ``1x2`` is worker1 alone
   (it serves both queues) with 2 slots, ``2x2`` both workers with 2 slots each (the
   default pair), ``1x4`` worker1 alone with as many slots as ``2x2`` has in all.
3. Reads every task instance's queued, start and end times from the metadata DB (PostgreSQL)
   and reports per configuration (min / median / max over the rounds):

   * ``lines/s``: lines read (``data_quality``) over the run's wall time (first task queued
     to last task ended);
   * seconds per stage: ``plan`` (purge_old_salts, plan_sources, plan_units), ``parse``
     (first parse_source start to last end), ``commit`` (commit_sources), ``aggregate``
     (rebuild_aggregates), each from its tasks' start and end;
   * ``queue wait``: the mean gap between a task being queued and starting to run (Celery
     delivery, a worker slot, the task process's start);
   * ``idle share``: the share of the run's wall time during which no task of the run was
     running at all: Airflow's scheduling (dependency checks, queueing, delivery) between
     the stages. Parse tasks running in parallel count once.
   * ``parse task s``: the mean run time of one parse task (process start, imports and the
     parse of its unit): what one more host takes off the parse stage.

The machine's load (``uptime``) is printed before and after, and the CPU seconds that other
processes used during each run (/proc/stat): on a 2-core machine two worker hosts compete
for the same cores, so the second host cannot halve the parse stage here; see docs/operators/scaling.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest_bench import DEFAULT_LINES, SOURCE, _system_busy_seconds, build_input  # noqa: E402

from tests.cluster.harness import Cluster  # noqa: E402

DAG = "footfall_ingest"
STAGES = {
    "plan": ("purge_old_salts", "plan_sources", "plan_units"),
    "parse": ("parse_source",),
    "commit": ("commit_sources",),
    "aggregate": ("rebuild_aggregates",),
}


def split_input(whole: Path, dest: Path, files: int) -> list[Path]:
    """Cut ``whole`` at line ends into ``files`` logs of about equal size, with distinct beginnings."""
    size = whole.stat().st_size
    paths, heads = [], set()
    with open(whole, "rb") as src:
        cuts = [0]
        for k in range(1, files):
            src.seek(size * k // files + 997 * k)  # a shift per file: no two start at the same line of a copy
            src.readline()
            cuts.append(src.tell())
        cuts.append(size)
        for k, (start, end) in enumerate(zip(cuts, cuts[1:], strict=False)):
            path = dest / f"access-{k:03d}.log"
            src.seek(start)
            with open(path, "wb") as out:
                remaining = end - start
                while remaining:
                    block = src.read(min(8 << 20, remaining))
                    out.write(block)
                    remaining -= len(block)
            with open(path, "rb") as f:
                heads.add(f.read(1024))
            paths.append(path)
    if len(heads) != len(paths):
        raise RuntimeError("two input files begin with the same bytes; choose another --files")
    whole.unlink()
    return paths


def _union_seconds(intervals: list[tuple[dt.datetime, dt.datetime]]) -> float:
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current:
                total += (current[1] - current[0]).total_seconds()
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current:
        total += (current[1] - current[0]).total_seconds()
    return total


def measure_run(cluster: Cluster, run_id: str) -> dict:
    tis = cluster.task_tries(DAG, run_id)
    ran = [t for t in tis if t["start_date"] and t["end_date"]]
    first = min(t["queued_dttm"] or t["start_date"] for t in ran)
    last = max(t["end_date"] for t in ran)
    wall = (last - first).total_seconds()
    stages = {}
    for stage, task_ids in STAGES.items():
        mine = [t for t in ran if t["task_id"] in task_ids]
        stages[stage] = (max(t["end_date"] for t in mine) - min(t["start_date"] for t in mine)).total_seconds()
    waits = [(t["start_date"] - t["queued_dttm"]).total_seconds() for t in ran if t["queued_dttm"]]
    parse = [(t["end_date"] - t["start_date"]).total_seconds() for t in ran if t["task_id"] == "parse_source"]
    busy = _union_seconds([(t["start_date"], t["end_date"]) for t in ran])
    import duckdb

    con = duckdb.connect(str(cluster.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        lines = con.execute("select coalesce(sum(lines_read), 0) from data_quality").fetchone()[0]
    finally:
        con.close()
    return {
        "lines": lines,
        "wall_s": wall,
        "lines_per_s": lines / wall,
        **{f"{stage}_s": s for stage, s in stages.items()},
        "queue_wait_mean_s": statistics.fmean(waits),
        "idle_share": (wall - busy) / wall,
        "parse_tasks": len(parse),
        "parse_task_mean_s": statistics.fmean(parse),
        "failed_tries": sum(1 for t in tis if t["state"] not in ("success", "skipped")),
    }


def run_once(cluster: Cluster, config: str, run_id: str, logical_date: dt.datetime) -> dict:
    """One ingest run with ``config`` = ``<worker hosts>x<task slots per host>``, e.g. ``2x2``."""
    workers, slots = (int(n) for n in config.split("x"))
    # Restart the workers with this configuration's slots (a stop waits for running tasks).
    cluster.process("stop", "worker1", "worker2")
    cluster.process("start", *("worker1", "worker2")[:workers], CLUSTER_WORKER_CONCURRENCY=str(slots))
    cluster.wait_workers_ready(("worker1", "worker2")[:workers])
    shutil.rmtree(cluster.data_dir, ignore_errors=True)
    cluster.data_dir.mkdir(parents=True)
    before = _system_busy_seconds()
    cluster.trigger(DAG, logical_date, run_id)
    state = cluster.wait_run(DAG, run_id, timeout=3600)
    after = _system_busy_seconds()
    if state != "success":
        raise RuntimeError(f"{run_id} ended {state}; see {cluster.directory}/logs and the task logs")
    result = measure_run(cluster, run_id)
    if before is not None and after is not None:
        result["machine_cpu_s"] = after - before  # every process of the machine, cluster included
    return {"config": config, "run_id": run_id, **result}


def summarise(results: list[dict], configs: list[str]) -> dict:
    out = {}
    for config in configs:
        mine = [r for r in results if r["config"] == config]
        out[config] = {
            key: (min(v), statistics.median(v), max(v))
            for key in mine[0]
            if isinstance(mine[0][key], int | float)
            for v in [[r[key] for r in mine]]
        }
    return out


def print_report(summary: dict, uptime: tuple[str, str], args) -> None:
    print(f"\ninput: {args.lines:,} lines requested, {args.files} files; {args.repeat} round(s) per configuration")
    print(f"uptime before: {uptime[0]}\nuptime after:  {uptime[1]}")
    rows = [
        ("lines read", "lines", "{:,.0f}"),
        ("wall s", "wall_s", "{:.1f}"),
        ("lines/s", "lines_per_s", "{:,.0f}"),
        ("plan s", "plan_s", "{:.1f}"),
        ("parse s", "parse_s", "{:.1f}"),
        ("commit s", "commit_s", "{:.1f}"),
        ("aggregate s", "aggregate_s", "{:.1f}"),
        ("queue wait mean s", "queue_wait_mean_s", "{:.2f}"),
        ("idle share", "idle_share", "{:.1%}"),
        ("parse tasks", "parse_tasks", "{:.0f}"),
        ("parse task mean s", "parse_task_mean_s", "{:.1f}"),
        ("machine CPU s", "machine_cpu_s", "{:.0f}"),
        ("failed tries", "failed_tries", "{:.0f}"),
    ]
    header = "".join(f"{f'{c} (hosts x slots): min/med/max':>40}" for c in summary)
    print(f"\n{'':<20}{header}")
    for label, key, fmt in rows:
        cells = "".join(
            f"{' / '.join(fmt.format(v) for v in summary[w][key]):>40}" if key in summary[w] else f"{'-':>40}"
            for w in summary
        )
        print(f"{label:<20}{cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="input lines (whole copies, rounded up)")
    parser.add_argument("--files", type=int, default=8, help="log files the input is split into")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per configuration")
    parser.add_argument(
        "--configs",
        default="1x2,2x2",
        help="comma-separated worker hosts x task slots per host (default 1x2,2x2: one host, then two, 2 slots each)",
    )
    parser.add_argument("--workdir", type=Path, default=REPO / ".cluster-bench-input", help="where the input goes")
    parser.add_argument("--cluster-dir", type=Path, default=REPO / ".cluster-bench")
    parser.add_argument("--port-base", type=int, default=47300)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running and the input in place")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)

    with gzip.open(SOURCE, "rb") as f:
        per_copy = sum(block.count(b"\n") for block in iter(lambda: f.read(8 << 20), b""))
    copies = -(-args.lines // per_copy)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    print(f"building the input: {copies} copies of {SOURCE.name} ({copies * per_copy:,} lines) in {args.files} files")
    build_input(SOURCE, args.workdir / "whole.log", copies, gzipped=False)
    split_input(args.workdir / "whole.log", args.workdir, args.files)

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for config in configs:
        hosts, _, slots = config.partition("x")
        if not (hosts in ("1", "2") and slots.isdigit() and int(slots) > 0):
            parser.error(f"--configs: {config!r} is not 1xN or 2xN (the cluster has two worker hosts)")
    cluster = Cluster(args.cluster_dir, args.port_base)
    cluster.down(purge=True)
    cluster.settings = {
        "CLUSTER_USE_JOB_SCHEDULE": "False",
        "FOOTFALL_LOG_GLOB": str(args.workdir / "*.log"),
    }
    print(f"starting the cluster in {args.cluster_dir}")
    cluster.up()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results = []
    start = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    try:
        for round_ in range(args.repeat):
            for config in configs:
                run_id = f"bench-{config}-{round_}"
                logical_date = start + dt.timedelta(minutes=len(results))
                t0 = time.monotonic()
                results.append(run_once(cluster, config, run_id, logical_date))
                r = results[-1]
                took = time.monotonic() - t0
                print(f"  {run_id}: {r['lines']:,} lines, {r['wall_s']:.1f} s, {r['lines_per_s']:,.0f} lines/s "
                      f"(parse {r['parse_s']:.1f} s, idle {r['idle_share']:.0%}; {took:.0f} s in all)")  # fmt: skip
    finally:
        uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        if not args.keep:
            cluster.down(purge=True)
            shutil.rmtree(args.workdir, ignore_errors=True)
    summary = summarise(results, configs)
    print_report(summary, (uptime_before, uptime_after), args)
    if args.json:
        print(json.dumps({"runs": results, "summary": summary, "uptime": [uptime_before, uptime_after]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
