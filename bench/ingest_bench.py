"""End-to-end ingest benchmark: real Apache/nginx ``combined`` lines -> Parquet -> DuckDB aggregates.

Usage (from the repo root)::

    make bench                                   # ~2M lines (10 copies), plain text input
    make bench BENCH_ARGS="--lines 20000000"     # ~20M lines (97 copies)
    .venv/bin/python bench/ingest_bench.py --lines 206860 --gzip --json

What it does:

1. Builds one input file in a fresh temporary directory (under ``--workdir``, default the
   system temp dir) by concatenating ``../shared/data/real/wordpress_access3.log.gz``
   (206,860 lines, ~39.4 MB decompressed) as many whole times as needed to reach ``--lines``
   (rounded *up* to whole copies). The first copy is streamed out of the gzip file, later
   copies are appended from it block by block, so memory does not grow with ``--lines``.
   With ``--gzip`` the input is the original gzip member repeated (a valid multi-member
   gzip file), so the ingest also pays for gzip decoding.
2. Runs the full ingest in a child Python process, the same four steps the Airflow DAG
   runs: ``discover`` -> ``parse_source`` (once per work unit) -> ``commit`` -> ``aggregate``,
   into an empty data dir, with a fixed bench hash key and a throw-away secrets dir.
   By default the units are parsed one after the other in the child, which measures the
   per-line cost. The DAG maps ``parse_source`` over the units, so with N worker slots
   Airflow parses N units at once, each in its own task process: ``--unit-workers N``
   does the same with N spawned processes (each starting its interpreter and imports, as
   a task does; their CPU time is counted in the stage).
   The child times each step (wall and CPU seconds) and records ``ru_maxrss`` after it;
   the parent gets the peak RSS from ``wait4``: the largest of the child and its unit
   workers, each of which stands for one Airflow task process.
3. If ``goaccess`` is on PATH (and ``--no-goaccess`` is not given) runs
   ``goaccess FILE --log-format=COMBINED -o OUT.json`` on the same file, times it and its
   peak RSS the same way, and prints the footfall/goaccess speed ratio. GoAccess 1.7 as
   packaged by Debian does not read gzip: with ``--gzip`` it reads ``gzip -dc FILE`` from a
   pipe (the decoder runs in its own process and is not in goaccess's CPU or RSS numbers).

What is printed: per stage seconds, CPU seconds, lines/s and peak RSS so far; the total
lines/s and MB/s (uncompressed input bytes) over the four ingest steps (interpreter start
and imports are shown separately and not counted); the child's peak RSS; the sanity check
``sum(hits)`` of ``daily_traffic`` + quarantined lines == input lines; the targets (>= 500k
lines/s end to end, aggregate < 2 s at 2M lines, peak RSS <= 1 GiB at 20M lines). With
``--json`` the same results follow as one JSON document.

On a 2-core machine anything else running skews every number: the report says how many
cores other processes used during the ingest (from /proc/stat), so a busy run is visible.
Run-to-run spread on an idle machine is about +-10 %.

Caveats: the copies are identical, so distinct values (client addresses, user agents,
paths) do not grow with ``--lines`` as they would in a real 20M-line log, and every copy
falls on the same 37 UTC days. Per-chunk work that scales with distinct values (the keyed
hashing in ``transforms/privacy.py``) is therefore as cheap per chunk as in one copy. On the
other hand one 8 MiB chunk spans ~8 days here, where a chronological log of a busy site
spans one or two: the per-day split and Parquet writes get many small row groups, which
makes those steps slower than on a real log.

No log content is printed: the logs hold real client data (see the shared README).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import gzip
import json
import math
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest_report import print_report

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "real" / "wordpress_access3.log.gz"
DEFAULT_LINES = 2_068_600  # ten copies of the wordpress log
BLOCK = 8 * 1024 * 1024
MIB = 1024 * 1024

# --------------------------------------------------------------------------- input


def count_source(source: Path) -> tuple[int, int]:
    """(lines, decompressed bytes) of the gzip source, streamed."""
    lines = size = 0
    with gzip.open(source, "rb") as f:
        while block := f.read(BLOCK):
            lines += block.count(b"\n")
            size += len(block)
    return lines, size


def build_input(source: Path, dest: Path, copies: int, gzipped: bool) -> None:
    """Write ``copies`` concatenated copies of ``source`` (decompressed unless ``gzipped``)."""
    if gzipped:
        with open(source, "rb") as src, open(dest, "wb") as out:
            for _ in range(copies):
                src.seek(0)
                shutil.copyfileobj(src, out, BLOCK)
        return
    with gzip.open(source, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, BLOCK)
    one = dest.stat().st_size
    with open(dest, "rb") as first, open(dest, "ab") as out:
        for _ in range(copies - 1):
            first.seek(0)
            remaining = one
            while remaining:
                block = first.read(min(BLOCK, remaining))
                if not block:
                    raise RuntimeError(f"{dest} shrank while it was being built")
                out.write(block)
                remaining -= len(block)


# --------------------------------------------------------------------------- child processes


def _system_busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (/proc/stat), None where unavailable.

    The difference over the ingest, minus the ingest's own CPU time, says whether something
    else ran at the same time (on a 2-core machine that skews every number).
    """
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    ticks = [int(x) for x in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def run_measured(cmd: list[str], *, stdin=subprocess.DEVNULL, stdout_path: Path, stderr_path: Path, env=None):
    """Run ``cmd`` to completion; returns (exit code, wall s, user s, sys s, peak RSS MiB).

    Uses ``wait4`` so the rusage is this child's alone (RUSAGE_CHILDREN would accumulate the
    maximum over every child waited for so far).
    """
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err, env=env, cwd=REPO)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024


def child_main(config_path: Path) -> None:
    """The ingest, in its own process: times each step, writes results to JSON."""
    t_start = time.perf_counter()
    config = json.loads(config_path.read_text())
    sys.path.insert(0, str(REPO))

    def snapshot() -> tuple[float, float, float]:
        # CPU of unit worker processes (--unit-workers) counts once they are reaped; the RSS
        # is this process's own (the workers' peak comes back from the parent's wait4).
        ru = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), ru.ru_utime + ru.ru_stime + kids.ru_utime + kids.ru_stime, ru.ru_maxrss / 1024

    stages: list[dict] = []
    last = snapshot()

    def mark(name: str) -> None:
        nonlocal last
        now = snapshot()
        stages.append({"stage": name, "seconds": now[0] - last[0], "cpu_seconds": now[1] - last[1], "rss_mib": now[2]})
        last = now

    from warehouse import aggregation, storage
    from warehouse.ingest import commit, parse_job, planning
    from warehouse.settings import Settings

    mark("startup")
    settings = Settings.from_env(config["env"])
    plans = planning.discover(settings)
    mark("discover")
    run_id = "bench"
    workers = config.get("unit_workers", 1)
    if workers > 1 and len(plans) > 1:
        # As Airflow runs the mapped parse_source tasks on `workers` worker slots: a fresh
        # process per task (imports, classifier set-up and first-sight user agents paid per
        # unit), each building its settings from the environment, the unit as a dict.
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, max_tasks_per_child=1) as pool:
            args = [(config["env"], plan.to_dict(), run_id, dt.date.today()) for plan in plans]
            results = list(pool.map(_parse_unit, *zip(*args, strict=True)))
    else:
        job = parse_job.ParseJob.from_settings(settings)
        results = [parse_job.parse_source(job, plan, run_id, dt.date.today()) for plan in plans]
    mark("parse_source")
    summary = commit.commit(settings, results, run_id)
    mark("commit")
    days = aggregation.aggregate(settings, summary["days"])
    mark("aggregate")

    con = storage.connect(settings.data_dir, read_only=True)
    try:
        hits, ndays = con.execute("select coalesce(sum(hits), 0), count(*) from daily_traffic").fetchone()
    finally:
        con.close()
    events_bytes = sum(p.stat().st_size for p in settings.events_dir.rglob("*.parquet"))
    config_path.with_suffix(".out.json").write_text(
        json.dumps(
            {
                "stages": stages,
                "plans": len(plans),
                "days_rebuilt": days,
                "lines_read": summary["lines_read"],
                "lines_parsed": summary["lines_parsed"],
                "lines_quarantined": summary["lines_quarantined"],
                "sum_hits": int(hits),
                "daily_traffic_rows": int(ndays),
                "events_parquet_bytes": events_bytes,
                "child_wall_seconds": time.perf_counter() - t_start,
            }
        )
    )


def _parse_unit(env: dict, unit: dict, run_id: str, day: dt.date) -> dict:
    """One parse_source task in a worker process (``--unit-workers``), as the DAG's task runs it."""
    sys.path.insert(0, str(REPO))
    from warehouse.ingest import parse_job, planning
    from warehouse.settings import Settings

    job = parse_job.ParseJob.from_settings(Settings.from_env(env))
    return parse_job.parse_source(job, planning.WorkUnit.from_dict(unit), run_id, day)


# --------------------------------------------------------------------------- goaccess


def run_goaccess(goaccess: str, path: Path, gzipped: bool, tmp: Path) -> dict:
    out_json = tmp / "goaccess.json"
    cmd = [
        goaccess,
        "-" if gzipped else str(path),
        "--log-format=COMBINED",
        "--no-global-config",
        "--no-progress",
        "--no-parsing-spinner",
        "-o",
        str(out_json),
    ]
    # goaccess's error report quotes log lines: keep it in a file, never print it.
    stdout, stderr = tmp / "goaccess.stdout", tmp / "goaccess.stderr"
    if gzipped:
        decoder = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
        try:
            rc, wall, user, sys_s, rss = run_measured(cmd, stdin=decoder.stdout, stdout_path=stdout, stderr_path=stderr)
        finally:
            decoder.stdout.close()
            decoder.wait()
    else:
        rc, wall, user, sys_s, rss = run_measured(cmd, stdout_path=stdout, stderr_path=stderr)
    result = {"cmd": " ".join(cmd), "exit_code": rc, "seconds": wall, "cpu_seconds": user + sys_s, "peak_rss_mib": rss}
    if rc == 0 and out_json.exists():
        general = json.loads(out_json.read_text()).get("general", {})
        result.update(
            total_requests=general.get("total_requests"),
            valid_requests=general.get("valid_requests"),
            failed_requests=general.get("failed_requests"),
        )
    return result


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--lines",
        type=int,
        default=DEFAULT_LINES,
        help="input lines, rounded up to whole copies of the wordpress log (default %(default)s; 20M is ok)",
    )
    p.add_argument("--gzip", action="store_true", help="write the input gzipped (default plain text)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (input, data dir, results)")
    p.add_argument("--workdir", type=Path, help="where the temporary directory is made (default: system temp dir)")
    p.add_argument("--threads", type=int, help="FOOTFALL_PARSE_THREADS (default: the settings' default)")
    p.add_argument("--chunk-mb", type=float, help="FOOTFALL_CHUNK_BYTES in MiB (default: the settings' default)")
    p.add_argument(
        "--map-chunk-mb", type=float, help="FOOTFALL_MAP_CHUNK_BYTES in MiB, the work unit size (default: settings')"
    )
    p.add_argument(
        "--unit-workers",
        type=int,
        default=1,
        help="parse work units in this many processes at once, as Airflow runs the mapped parse_source "
        "tasks on that many worker slots (default 1: one after the other, the per-line cost)",
    )
    p.add_argument("--no-goaccess", action="store_true", help="do not run goaccess even if it is installed")
    p.add_argument("--json", action="store_true", help="also print the results as one JSON document")
    p.add_argument("--_child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._child:
        child_main(args._child)
        return 0
    if args.lines <= 0:
        p.error("--lines must be positive")
    if not SOURCE.exists():
        p.error(f"{SOURCE} is missing: the benchmark reads the real logs in ../shared/data/real/")

    sys.path.insert(0, str(REPO))
    from warehouse.settings import Settings

    defaults = Settings.from_env({})
    threads = args.threads or defaults.parse_threads
    chunk_bytes = int(args.chunk_mb * MIB) if args.chunk_mb else defaults.chunk_bytes
    map_chunk_bytes = int(args.map_chunk_mb * MIB) if args.map_chunk_mb else defaults.map_chunk_bytes

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="footfall-bench-", dir=args.workdir))
    try:
        lines_per_copy, bytes_per_copy = count_source(SOURCE)
        copies = max(1, math.ceil(args.lines / lines_per_copy))
        input_path = tmp / "input" / ("access.log.gz" if args.gzip else "access.log")
        input_path.parent.mkdir()
        print(f"building {copies} x {lines_per_copy:,} lines into {input_path} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        build_input(SOURCE, input_path, copies, args.gzip)
        # Write the input back to disk now, not while the ingest runs (it stays in the page
        # cache: both footfall and goaccess read it warm).
        with open(input_path, "rb") as f:
            os.fsync(f.fileno())
        build_s = time.perf_counter() - t
        lines = copies * lines_per_copy

        config = tmp / "child.json"
        config.write_text(
            json.dumps(
                {
                    "env": {
                        "FOOTFALL_LOG_GLOB": str(input_path),
                        "FOOTFALL_DATA_DIR": str(tmp / "data"),
                        "FOOTFALL_SECRETS_DIR": str(tmp / "secrets"),
                        "FOOTFALL_HASH_KEY": "footfall-bench-not-a-secret",
                        "FOOTFALL_SITE": "bench",
                        "FOOTFALL_CHUNK_BYTES": str(chunk_bytes),
                        "FOOTFALL_PARSE_THREADS": str(threads),
                        "FOOTFALL_MAP_CHUNK_BYTES": str(map_chunk_bytes),
                    },
                    "unit_workers": args.unit_workers,
                }
            )
        )
        print(f"ingesting {lines:,} lines ...", file=sys.stderr, flush=True)
        busy_before = _system_busy_seconds()
        rc, wall, user, sys_s, rss = run_measured(
            [sys.executable, str(Path(__file__).resolve()), "--_child", str(config)],
            stdout_path=tmp / "ingest.stdout",
            stderr_path=tmp / "ingest.stderr",
        )
        if rc != 0:
            sys.stderr.write((tmp / "ingest.stderr").read_text(errors="replace")[-4000:])
            print(f"ingest child failed with exit code {rc}; work dir kept: {tmp}", file=sys.stderr)
            args.keep = True
            return 1
        busy_after = _system_busy_seconds()
        other_cores = None
        if busy_before is not None and busy_after is not None:
            other_cores = max(0.0, (busy_after - busy_before - user - sys_s) / wall)
        ing = json.loads(config.with_suffix(".out.json").read_text())
        counted = [s for s in ing["stages"] if s["stage"] != "startup"]
        total = sum(s["seconds"] for s in counted)
        r = {
            "input_path": str(input_path),
            "input_lines": lines,
            "input_bytes": copies * bytes_per_copy,
            "input_file_bytes": input_path.stat().st_size,
            "copies": copies,
            "lines_per_copy": lines_per_copy,
            "gzip": args.gzip,
            "build_seconds": build_s,
            "threads": threads,
            "chunk_bytes": chunk_bytes,
            "unit_workers": args.unit_workers,
            "map_chunk_bytes": map_chunk_bytes,
            "units": ing["plans"],
            "ingest": ing,
            "total_seconds": total,
            "total_cpu_seconds": sum(s["cpu_seconds"] for s in counted),
            "child_process_seconds": wall,
            "child_process_cpu_seconds": user + sys_s,
            "lines_per_s": lines / total,
            "mb_per_s": copies * bytes_per_copy / 1e6 / total,
            "peak_rss_mib": rss,
            "other_cpu_cores_during_ingest": other_cores,
            "sanity_ok": ing["sum_hits"] + ing["lines_quarantined"] == lines and ing["lines_read"] == lines,
        }

        goaccess = shutil.which("goaccess")
        if args.no_goaccess:
            r["goaccess_skipped"] = "skipped (--no-goaccess)"
        elif not goaccess:
            r["goaccess_skipped"] = "not installed (not on PATH): no comparison"
        else:
            print("running goaccess on the same file ...", file=sys.stderr, flush=True)
            ga = run_goaccess(goaccess, input_path, args.gzip, tmp)
            r["goaccess"] = ga
            if ga["exit_code"] == 0:
                r["goaccess_lines_per_s"] = lines / ga["seconds"]
                r["ratio_wall"] = ga["seconds"] / total
                r["ratio_cpu"] = ga["cpu_seconds"] / r["total_cpu_seconds"]

        print_report(r)
        if args.json:
            print(json.dumps(r, indent=2))
        if args.keep:
            print(f"\nwork dir kept: {tmp}", file=sys.stderr)
        return 0 if r["sanity_ok"] else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
