"""Time the compiled tokenizer alone (``parsers._tokenizer.tokenize``) on ~2M real lines.

Usage (from the repo root)::

    .venv/bin/python bench/tokenizer_bench.py                       # the installed build
    .venv/bin/python bench/tokenizer_bench.py --module /tmp/before/_tokenizer.so --module installed

The input is ``../shared/data/real/wordpress_access3.log.gz`` (206,860 lines of Apache
``combined``) repeated ``--copies`` times (default 10: 2,068,600 lines, ~394 MB), held in memory
and cut into 8 MiB chunks at line ends, as the ingest reads a file. Each run tokenizes every
chunk with the ``combined`` template on one thread; the figures are the wall time and the CPU
time of those calls only (no file reading, no Python after the tokenizer). On a machine other
work shares, CPU time is the steadier of the two: waiting for a core shows in wall time only.

``--module`` names a build to time: a path to an extension module file (for example one built
from another commit's ``parsers/_tokenizer.c``), or ``installed`` for the one the venv imports.
Several builds are timed in turn, run by run (A B A B ...), so a drift in the machine's speed
touches each alike; each gets min / median / max over ``--runs`` runs and its medians relative to
the first build's. The load average is printed before and after: on the shared 2-core machine,
quote the median and the load with it.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parsers.fast_path import compile_template  # noqa: E402
from parsers.log_format import compile_log_format  # noqa: E402

SOURCE = REPO.parent / "shared" / "data" / "real" / "wordpress_access3.log.gz"
CHUNK = 8 * 1024 * 1024


def load(path: str):
    """The tokenizer module at ``path`` (``installed``: the one the venv imports)."""
    if path == "installed":
        from parsers import _tokenizer

        return _tokenizer
    spec = importlib.util.spec_from_file_location(f"bench_{abs(hash(path))}._tokenizer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chunks(copies: int) -> tuple[list[bytes], int]:
    """The input cut into chunks of whole lines, and its number of lines."""
    data = gzip.decompress(SOURCE.read_bytes()) * copies
    out, start = [], 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + CHUNK) + 1 if start + CHUNK < len(data) else len(data)
        out.append(data[start:end])
        start = end
    return out, data.count(b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="a build to time (path, or 'installed'); repeatable")
    parser.add_argument("--copies", type=int, default=10, help="copies of the wordpress log (default 10: ~2M lines)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    names = args.module or ["installed"]
    modules = [load(n) for n in names]
    spec = compile_template(compile_log_format("combined"), "remote_user", None).spec
    data, lines = chunks(args.copies)
    print(f"{lines:,} lines in {len(data)} chunks; load average before: {os.getloadavg()}")
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for module in modules:  # warm-up: page the input in, load the code
        module.tokenize(data[0], spec, 65536)
    for _ in range(args.runs):
        for name, module in zip(names, modules, strict=True):
            start, cpu = time.perf_counter(), time.process_time()
            for chunk in data:
                module.tokenize(chunk, spec, 65536)
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(time.process_time() - cpu)
    print(f"load average after: {os.getloadavg()}")
    for label, times in (("wall", walls), ("cpu", cpus)):
        base = statistics.median(times[names[0]])
        for name in names:
            t = times[name]
            median = statistics.median(t)
            print(
                f"{label} {name}: min {min(t):.3f} s, median {median:.3f} s, max {max(t):.3f} s "
                f"({lines / median / 1e6:.2f}M lines/s; median {median / base:.3f}x of {names[0]})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
