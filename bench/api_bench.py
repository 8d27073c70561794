"""Analytics API benchmark: latency of every endpoint, and requests/s of one uvicorn worker.

Usage (from the repo root)::

    make bench-api                                   # a year of demo traffic, ~2M events, 3 runs
    make bench-api BENCH_ARGS="--runs 5 --duration 30"
    .venv/bin/python bench/api_bench.py --help

What it does:

1. The warehouse: ``demo/traffic.py`` generates ``--days`` days (default 366) of community
   traffic at ``--scale`` (default 9.2: ~2.06M log lines, ~5,600 a day), ingested by the
   pipeline's own steps (discover, parse_source, commit, aggregate, which publishes the
   snapshot). It is kept under ``--workdir`` (default ``data/bench-api``) and reused by later
   runs; ``--rebuild`` makes it again. Generating takes about a minute and 1.3 GB of memory.
2. Each run starts ``python -m analytics serve`` (one uvicorn worker) on a free port of
   127.0.0.1, with an empty answer cache, and asks it over HTTP with one keep-alive client:
   - cold: ``--urls`` distinct requests per endpoint (seeded random date ranges of 1 to 365
     days and parameter values), each asked once: every one misses the cache and runs its
     queries on the snapshot. Endpoints without a range have fewer distinct requests.
   - warm: the same requests asked again 3 times each: answered from the per-generation cache.
   - filtered (``ENDPOINT?filtered`` rows): ``--filtered-urls`` distinct 30-day ranges per
     endpoint the dashboard reads, each under one country, page or referrer filter (answered
     from the snapshot's events, not the aggregates: docs/staff/api.md, Filters).
   Latency is the client's wall time per request (connection reused), in milliseconds.
3. Throughput: ``wrk`` (Debian's package; ``make bench-api`` installs it when missing) with
   one thread and ``--connections`` connections for ``--duration`` seconds on ``visitors/``
   with its default range (so cached, as a dashboard polling it is). Without wrk, a load
   generator of httpx clients in a separate process stands in (slower: it shares the 2 cores).
4. Prints, per endpoint, p50 and p95 (cold and warm) as min / median / max over the runs, the
   requests/s the same way, the machine load (``/proc/loadavg``) before and after, and the
   goals: p95 under 50 ms for every endpoint, 500 requests/s for ``visitors/``. With
   ``--json FILE`` the raw numbers go to FILE too.

On this 2-core machine, other work skews every number: read the load lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

GOAL_P95_MS = 50.0
GOAL_RPS = 500.0
END_DAY = dt.date(2026, 10, 31)
COMMUNITIES = [f"C{n:03d}" for n in range(1, 13)]
DIVISIONS = ["CA", "CA-ON", "CA-QC", "US", "US-NY-NYC", "DE"]
# Event filters of the demo site: countries, pages and referrer domains it has.
EVENT_FILTERS = [
    {"country": "CA"}, {"country": "US"}, {"country": "DE"},
    {"page": "/"}, {"page": "/communities/nyc"}, {"page": "/communities/canada"},
    {"referrer": "google.com"}, {"referrer": "reddit.com"},
]  # fmt: skip
FILTERED = ["visitors/", "traffic/", "trends/", "pages/", "entry-pages/", "referrers/", "countries/", "devices/",
            "status-codes/", "peak-visitors/"]  # fmt: skip


def load() -> str:
    """The load averages over 1, 5 and 15 minutes (``/proc/loadavg``)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------- the warehouse


def build_warehouse(root: Path, days: int, scale: float, seed: int) -> dict[str, str]:
    """Generate the demo traffic into ``root/input`` and ingest it into ``root/data``; returns its env."""
    from conftest import read_env_file

    from demo import traffic

    # make demo's ground_truth.json computes every community metric day by day: minutes at
    # this size, and not needed here (the tests compare the API with the ground truth).
    traffic.summary = lambda truth, lines: {"lines": lines}
    started = time.perf_counter()
    traffic.generate(root / "input", seed=seed, days=days, end_day=END_DAY, scale=scale)
    print(f"generated {days} days at scale {scale} in {time.perf_counter() - started:.0f} s", flush=True)
    env = read_env_file(root / "input" / "footfall.env") | {
        "FOOTFALL_DATA_DIR": str(root / "data"),
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "bench-key-not-a-secret",
    }
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--ingest-child", json.dumps(env)], cwd=REPO)
    if done.returncode:
        raise SystemExit("the ingest failed")
    print(f"ingested in {time.perf_counter() - started:.0f} s", flush=True)
    (root / "env.json").write_text(json.dumps(env))
    return env


def ingest_child(env: dict[str, str]) -> None:
    """The ingest, as the DAG's tasks run it (aggregate publishes the snapshot)."""
    from warehouse import snapshot
    from warehouse.aggregation import aggregate
    from warehouse.ingest.commit import commit
    from warehouse.ingest.parse_job import ParseJob, parse_source
    from warehouse.ingest.planning import discover
    from warehouse.settings import Settings

    settings = Settings.from_env(env)
    end = dt.datetime.combine(END_DAY + dt.timedelta(days=1), dt.time(6), dt.UTC)
    plans = discover(settings)
    results = [parse_source(ParseJob.from_settings(settings), plan, "bench", end.date()) for plan in plans]
    committed = commit(settings, results, "bench", end)
    aggregate(settings, committed["days"])
    con = snapshot.connect(settings.data_dir)
    events, days = con.execute("select (select count(*) from events), (select count(*) from daily_traffic)").fetchone()
    con.close()
    print(f"warehouse: {events:,} events over {days} days", flush=True)


# --------------------------------------------------------------------------- requests


def requests_per_endpoint(
    rng: random.Random, urls: int, first: dt.date, last: dt.date, filtered_urls: int = 10
) -> dict[str, list[dict]]:
    """Endpoint (``ENDPOINT?filtered`` for its filtered requests) -> the distinct parameter sets asked of it."""

    def span(max_days: int = 365) -> dict:
        length = min(rng.choice([1, 7, 30, 90, 180, 365]), max_days)
        start = first + dt.timedelta(days=rng.randrange(max(1, (last - first).days - length + 2)))
        end = min(last, start + dt.timedelta(days=length - 1))
        return {"start_date": start.isoformat(), "end_date": end.isoformat()}

    ranged = ["division-breakdown/", "conversions/", "demographics/", "export/", "pages/", "entry-pages/",
              "referrers/", "countries/", "devices/", "status-codes/", "crawlers/", "cross-division-flows/",
              "peak-visitors/", "content/", "content/150/"]  # fmt: skip
    out: dict[str, list[dict]] = {path: [span() for _ in range(urls)] for path in ranged}
    out["visitors/"] = [
        span() | rng.choice([{}, {"community_id": rng.choice(COMMUNITIES)}, {"division_id": rng.choice(DIVISIONS)}])
        for _ in range(urls)
    ]
    out["trends/"] = []
    for _ in range(urls):
        interval = rng.choice(["hour", "day", "week", "month"])
        extra = {"community_id": rng.choice(COMMUNITIES)} if rng.random() < 0.3 else {}
        out["trends/"].append(span(31 if interval == "hour" else 365) | {"interval": interval} | extra)
    out["traffic/"] = [
        span(31) | {"interval": "hour"} if rng.random() < 0.3 else span() | {"interval": "day"} for _ in range(urls)
    ]
    out["growth/"] = [{"period": p} for p in ("day", "week", "month")]
    out["realtime/"] = [{}] + [{"community_id": c} for c in COMMUNITIES]
    for path in ("visitors/today/", "visitors/weekly/", "visitors/monthly/", "communities/"):
        out[path] = [{}]

    def thirty_days() -> dict:
        start = first + dt.timedelta(days=rng.randrange(max(1, (last - first).days - 28)))
        return {"start_date": start.isoformat(), "end_date": (start + dt.timedelta(days=29)).isoformat()}

    for path in FILTERED:
        out[f"{path}?filtered"] = [thirty_days() | rng.choice(EVENT_FILTERS) for _ in range(filtered_urls)]
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def measure_latency(server, token: str, plan: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    import httpx

    results = {}
    with httpx.Client(base_url=f"{server.url}/api/analytics/", headers={"Authorization": f"Bearer {token}"}) as client:
        for path, param_sets in plan.items():
            cold, warm = [], []
            for params in param_sets:
                started = time.perf_counter()
                response = client.get(path.removesuffix("?filtered"), params=params, timeout=60)
                cold.append(1000 * (time.perf_counter() - started))
                if response.status_code != 200:
                    raise SystemExit(f"{path} {params}: {response.status_code} {response.text[:300]}")
            for _ in range(3):
                for params in param_sets:
                    started = time.perf_counter()
                    client.get(path.removesuffix("?filtered"), params=params, timeout=60)
                    warm.append(1000 * (time.perf_counter() - started))
            results[path] = {
                "cold_p50": percentile(cold, 0.5),
                "cold_p95": percentile(cold, 0.95),
                "warm_p50": percentile(warm, 0.5),
                "warm_p95": percentile(warm, 0.95),
                "cold_n": len(cold),
            }
    return results


def throughput(server, token: str, duration: int, connections: int) -> tuple[float, str]:
    """Requests/s on visitors/ (default range): with wrk when installed, else an httpx generator."""
    url = f"{server.url}/api/analytics/visitors/"
    wrk = shutil.which("wrk")
    if wrk:
        done = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"Authorization: Bearer {token}", url],
            capture_output=True,
            text=True,
        )
        match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
        if not match or errors:
            raise SystemExit(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
        return float(match.group(1)), f"wrk -t1 -c{connections} -d{duration}s"
    code = (
        "import asyncio, sys, time, httpx\n"
        "async def main(url, token, n, seconds):\n"
        "    done = 0\n"
        "    async with httpx.AsyncClient(headers={'Authorization': 'Bearer ' + token}) as c:\n"
        "        end = time.perf_counter() + seconds\n"
        "        async def worker():\n"
        "            nonlocal done\n"
        "            while time.perf_counter() < end:\n"
        "                r = await c.get(url)\n"
        "                assert r.status_code == 200\n"
        "                done += 1\n"
        "        await asyncio.gather(*(worker() for _ in range(n)))\n"
        "    print(done / seconds)\n"
        "asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url, token, str(connections), str(duration)], capture_output=True, text=True
    )
    return float(done.stdout.strip()), f"httpx AsyncClient, {connections} concurrent requests, {duration} s"


# --------------------------------------------------------------------------- main


def spread(values: list[float]) -> str:
    return f"{min(values):7.1f} {statistics.median(values):7.1f} {max(values):7.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO / "data" / "bench-api")
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--scale", type=float, default=9.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--urls", type=int, default=30, help="distinct requests per ranged endpoint")
    parser.add_argument("--filtered-urls", type=int, default=10, help="distinct filtered requests per endpoint")
    parser.add_argument("--duration", type=int, default=15, help="seconds of the throughput test")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--json", type=Path, help="write the raw results here too")
    parser.add_argument("--ingest-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ingest_child:
        ingest_child(json.loads(args.ingest_child))
        return 0

    from api_helpers import create_token, start_api

    root = args.workdir / f"demo-{args.days}d-x{args.scale}-seed{args.seed}"
    if args.rebuild and root.exists():
        shutil.rmtree(root)
    if (root / "env.json").exists():
        env = json.loads((root / "env.json").read_text())
    else:
        root.mkdir(parents=True, exist_ok=True)
        env = build_warehouse(root, args.days, args.scale, args.seed)
    token = create_token(env, "analyst", "api benchmark")
    first = END_DAY - dt.timedelta(days=args.days - 1)
    before = load()
    runs = []
    for run in range(args.runs):
        plan = requests_per_endpoint(random.Random(run), args.urls, first, END_DAY, args.filtered_urls)
        server = start_api(env, root / f"serve-{run}.log")
        try:
            latency = measure_latency(server, token, plan)
            rps, how = throughput(server, token, args.duration, args.connections)
        finally:
            server.stop()
        runs.append({"latency": latency, "rps": rps, "load_after": load()})
        print(f"run {run + 1}: visitors/ {rps:,.0f} requests/s; load {runs[-1]['load_after']}", flush=True)
    after = load()

    print()
    print(f"warehouse  {root} ({args.days} days of demo traffic at scale {args.scale}, seed {args.seed})")
    print(f"machine    {os.cpu_count()} cores; load average (1, 5, 15 min) before {before}, after {after}")
    print(f"runs       {args.runs}, each a fresh `python -m analytics serve` (one uvicorn worker, empty cache)")
    print()
    print("latency, ms (min / median / max over runs)")
    print(f"{'endpoint':<24}{'n':>4}  {'cold p50':>23}  {'cold p95':>23}  {'warm p50':>23}  {'warm p95':>23}")
    worst = {}
    for path in runs[0]["latency"]:
        cells = {k: [r["latency"][path][k] for r in runs] for k in ("cold_p50", "cold_p95", "warm_p50", "warm_p95")}
        worst[path] = statistics.median(cells["cold_p95"])
        print(
            f"{path:<24}{runs[0]['latency'][path]['cold_n']:>4}  {spread(cells['cold_p50'])}  "
            f"{spread(cells['cold_p95'])}  {spread(cells['warm_p50'])}  {spread(cells['warm_p95'])}"
        )
    rps = [r["rps"] for r in runs]
    print()
    print(f"throughput visitors/: {spread(rps)} requests/s (min / median / max; {how})")
    print()
    slow = {p: v for p, v in worst.items() if v >= GOAL_P95_MS}
    print("goals")
    print(f"  p95 < {GOAL_P95_MS:.0f} ms, every endpoint, cold (median over runs): "
          + ("PASS" if not slow else "FAIL: " + ", ".join(f"{p} {v:.0f} ms" for p, v in slow.items())))  # fmt: skip
    print(f"  >= {GOAL_RPS:.0f} requests/s on visitors/ (median): {statistics.median(rps):,.0f} "
          + ("PASS" if statistics.median(rps) >= GOAL_RPS else "FAIL"))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "load_before": before, "load_after": after, "how": how}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
