"""Micro-benchmark of the enrichment classifiers, per distinct value (not a test).

Reads a real log (default ``../shared/data/real/wordpress_access3.log.gz``), parses it with
footfall's parser, and times each classifier on the log's distinct user agents, addresses
and (address, X-Forwarded-For) pairs, and the column-wise referrer functions per line.
Libraries' own slow paths (``user_agents.parse``, ``CrawlerDetect``, ``geoip2`` models) are
timed on a sample for comparison. Prints timings only, never log content.

    .venv/bin/python bench/enrichment_bench.py [--log PATH] [--sample N]
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parsers.access_log import parse_lines  # noqa: E402
from parsers.log_format import COMBINED, compile_log_format  # noqa: E402
from transforms import user_agents as ua_mod  # noqa: E402
from transforms.client_address import client_addresses  # noqa: E402
from transforms.geoip import GeoIP, default_database_path  # noqa: E402
from transforms.referrers import referrer_columns, strip_params, utm_columns  # noqa: E402

DEFAULT_LOG = REPO.parent / "shared" / "data" / "real" / "wordpress_access3.log.gz"


def _events(path: Path) -> pl.DataFrame:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    lines = pl.read_lines(io.BytesIO(data), row_index_name="line_number", row_index_offset=1)
    return parse_lines(lines.with_columns(pl.col("line_number").cast(pl.Int64)), compile_log_format(COMBINED)).events


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def _report(label: str, seconds: float, count: int, unit: str) -> None:
    per = seconds / max(count, 1) * 1e6
    plural = unit + ("es" if unit.endswith("s") else "s")
    print(f"  {label:<52} {per:9.2f} us/{unit}   ({count:,} {plural}, {seconds * 1e3:8.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG, help="combined-format log, plain or .gz")
    parser.add_argument("--sample", type=int, default=300, help="values for the libraries' slow paths")
    args = parser.parse_args()

    events, seconds = _timed(_events, args.log)
    agents = events.get_column("user_agent").unique()
    addresses = events.get_column("remote_addr").unique()
    print(f"{args.log.name}: {events.height:,} lines parsed in {seconds:.2f} s; "
          f"{agents.len():,} distinct user agents, {addresses.len():,} distinct addresses")  # fmt: skip
    rng = random.Random(1)
    agent_list = agents.drop_nulls().to_list()
    sample = rng.sample(agent_list, min(args.sample, len(agent_list)))

    print("user agents (per distinct user agent):")
    _, seconds = _timed(lambda: (ua_mod._ua_parser(), ua_mod._crawlerdetect()))
    print(f"  one-time set-up (ua-parser matchers, crawler regexes): {seconds * 1e3:.0f} ms")
    classifier = ua_mod.UserAgentClassifier()
    _, seconds = _timed(classifier.classify, agents)
    _report("UserAgentClassifier.classify, first time", seconds, agents.len(), "UA")
    _, seconds = _timed(classifier.classify, agents)
    _report("UserAgentClassifier.classify, cached", seconds, agents.len(), "UA")
    keys = agents.fill_null("").str.strip_chars()
    parse = ua_mod._ua_parser().parse
    results, seconds = _timed(lambda: [parse(k) for k in keys])
    _report("  of which ua-parser 1.0 parse (ua-parser-rs)", seconds, keys.len(), "UA")
    _, seconds = _timed(lambda: [ua_mod.FastUserAgent(k, r) for k, r in zip(keys, results, strict=True)])
    _report("  of which user-agents' UserAgent from the result", seconds, keys.len(), "UA")
    _, seconds = _timed(ua_mod._crawlerdetect().matches, keys)
    _report("  of which crawlerdetect patterns, column-wise", seconds, keys.len(), "UA")

    import user_agents
    from crawlerdetect import CrawlerDetect

    _, seconds = _timed(lambda: [user_agents.parse(a) for a in sample])
    _report("for comparison: user_agents.parse (legacy ua-parser)", seconds, len(sample), "UA")
    detector = CrawlerDetect()
    _, seconds = _timed(lambda: [detector.is_crawler(a) for a in sample])
    _report("for comparison: CrawlerDetect().is_crawler (Python re)", seconds, len(sample), "UA")

    print("addresses (per distinct address):")
    geoip, seconds = _timed(GeoIP)
    print(f"  one-time set-up (open the .mmdb): {seconds * 1e3:.1f} ms")
    _, seconds = _timed(geoip.lookup, addresses)
    _report("GeoIP.lookup, first time", seconds, addresses.len(), "address")
    _, seconds = _timed(geoip.lookup, addresses)
    _report("GeoIP.lookup, cached", seconds, addresses.len(), "address")
    import geoip2.database
    import geoip2.errors

    reader = geoip2.database.Reader(str(default_database_path()))
    address_sample = rng.sample(addresses.drop_nulls().to_list(), min(args.sample, addresses.len() - 1))

    def city(address: str):
        try:
            return reader.city(address)
        except geoip2.errors.AddressNotFoundError:
            return None

    _, seconds = _timed(lambda: [city(a) for a in address_sample])
    _report("for comparison: geoip2 Reader.city (models)", seconds, len(address_sample), "address")

    # Every address behind one of four trusted proxies, with a two-entry chain.
    proxied = events.select(
        pl.format("10.0.0.{}", pl.col("line_number") % 4).alias("remote_addr"),
        pl.format("{}, 10.0.1.{}", pl.col("remote_addr"), pl.col("line_number") % 3).alias("x_forwarded_for"),
    )
    pairs = proxied.unique().height
    _, seconds = _timed(client_addresses, proxied, ("10.0.0.0/16",))
    _report("client_addresses (all lines proxied)", seconds, pairs, "pair")
    _, seconds = _timed(client_addresses, events, ())
    _report("client_addresses (no trusted proxies)", seconds, events.height, "line")

    print("referrers and query strings (column-wise, per line):")
    hosts = ("agilemobiledeveloper.com", "sparkdeveloper.com", "mongodbdev.com")
    for label, exprs in [
        ("referrer_columns", referrer_columns(pl.col("referrer"), hosts)),
        ("utm_columns", utm_columns(pl.col("query"))),
        ("strip_params(query)", [strip_params(pl.col("query"))]),
        ("strip_params(referrer)", [strip_params(pl.col("referrer"))]),
    ]:
        events.select(exprs)  # compile the regexes once
        _, seconds = _timed(events.select, exprs)
        _report(label, seconds, events.height, "line")


if __name__ == "__main__":
    main()
