"""What object staging costs against filesystem staging: the parse and commit of the same log.

Builds a plain log of N copies of ``../shared/data/real/wordpress_access3.log.gz`` (206,860
lines, 39 MB each), starts a local S3-protocol server (``moto`` in server mode, on 127.0.0.1)
with one bucket, then, ``--repeat`` times and alternating the two, ingests the log into a new
data dir with staging on the filesystem and with ``FOOTFALL_STAGING_URL=s3://...``: every work
unit parsed in turn (``ingest.parse_source``, which uploads with object staging), then one
``ingest.commit`` (which downloads, installs and deletes the objects). Each run is a child
process, as each Airflow task is. Prints min / median / max seconds of parse and commit per mode.

The server runs on this machine, so this measures footfall's own cost of going through the S3
protocol (upload, listing, download, delete, the Connection and the client's set-up), not a
network's: against a real store add the transfer of the staged bytes (about a seventh of the
log's size, twice: up from the parse host, down to the warehouse host).

    .venv/bin/python bench/staging_bench.py --copies 2 --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "real" / "wordpress_access3.log.gz"

CHILD = """
import datetime as dt, json, sys, time
from warehouse.ingest.commit import commit
from warehouse.ingest.parse_job import ParseJob, parse_source
from warehouse.ingest.planning import discover
from warehouse.settings import Settings

settings = Settings.from_env()
end = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
units = discover(settings, now=end)
start = time.perf_counter()
results = [parse_source(ParseJob.from_settings(settings), u, "bench", end.date(), now=end) for u in units]
parsed = time.perf_counter()
committed = commit(settings, results, "bench", end, planned=[u.to_dict() for u in units])
done = time.perf_counter()
print(json.dumps({"units": len(units), "lines": committed["lines_read"], "parse": parsed - start,
                  "commit": done - parsed}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_store(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    out = open(tmp / "moto.log", "wb")  # noqa: SIM115 (open for the server's life)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                            stderr=out)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    import boto3

    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    ).create_bucket(Bucket="bench")
    return proc, endpoint


def run(env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of the wordpress log (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (default %(default)s)")
    parser.add_argument("--map-chunk-bytes", default="33554432", help="FOOTFALL_MAP_CHUNK_BYTES (default 32 MiB)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="footfall-staging-bench-"))
    logs = tmp / "logs"
    logs.mkdir()
    text = gzip.decompress(SOURCE.read_bytes())
    with open(logs / "access.log", "wb") as f:
        for _ in range(args.copies):
            f.write(text)
    old = time.time() - 3600
    os.utime(logs / "access.log", (old, old))
    proc, endpoint = start_store(tmp)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "AIRFLOW_CONN_"))} | {
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
        "FOOTFALL_LOG_GLOB": str(logs / "access.log"),
        "FOOTFALL_SECRETS_DIR": str(tmp / "secrets"),
        "FOOTFALL_HASH_KEY": "bench-key-not-a-secret",
        "FOOTFALL_MAP_CHUNK_BYTES": args.map_chunk_bytes,
        "AIRFLOW_CONN_FOOTFALL_STORAGE": json.dumps(
            {
                "conn_type": "aws",
                "login": "bench",
                "password": "bench",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),  # fmt: skip
    }
    modes = {"filesystem": {}, "s3": {"FOOTFALL_STAGING_URL": "s3://bench/staging"}}
    figures: dict[str, list[dict]] = {mode: [] for mode in modes}
    try:
        for i in range(args.repeat):
            for mode, extra in modes.items():
                env = base | extra | {"FOOTFALL_DATA_DIR": str(tmp / f"{mode}-{i}")}
                figures[mode].append(run(env))
    finally:
        proc.terminate()
    print(f"{figures['filesystem'][0]['lines']:,} lines in {figures['filesystem'][0]['units']} work units")
    print("seconds, min / median / max over", args.repeat, "runs")
    for mode, runs in figures.items():
        cells = []
        for key in ("parse", "commit"):
            values = sorted(r[key] for r in runs)
            cells.append(f"{key} {values[0]:.2f} / {statistics.median(values):.2f} / {values[-1]:.2f}")
        print(f"{mode:>10}: " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
