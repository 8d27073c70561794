"""transforms.distinct_cache and the enricher's caches across chunks, on real log values."""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest
from conftest import REPO, shared_log

from parsers.coded import CodedEvents
from parsers.fast_path import compile_template, parse_chunk
from parsers.log_format import COMBINED, compile_log_format
from transforms.distinct_cache import DistinctCache
from transforms.enrich import Enricher
from transforms.privacy import KeyStore, keyed_hash, pseudonymise
from transforms.routes import Routes


def _summary(frame: pl.DataFrame) -> pl.DataFrame:
    """A result computed from each row's values only: what a cache may remember."""
    return frame.select(
        pl.col("a").str.len_chars().alias("length"),
        pl.concat_str(pl.col("a").fill_null("<null>"), pl.col("b").cast(pl.String).fill_null("<null>")).alias("ab"),
    )


class Counting:
    """_summary, counting the key rows it was asked to compute."""

    def __init__(self) -> None:
        self.rows = 0
        self.lock = threading.Lock()

    def __call__(self, frame: pl.DataFrame) -> pl.DataFrame:
        with self.lock:
            self.rows += frame.height
        return _summary(frame)


def _keys(values: list[tuple[str | None, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(values, schema={"a": pl.String, "b": pl.Int64}, orient="row")


def test_rows_seen_before_come_from_the_cache_with_the_same_result():
    compute = Counting()
    cache = DistinctCache(compute)
    first = _keys([("x", 1), ("y", None), (None, 2), ("x", 2)])
    assert cache(first).equals(_summary(first))
    assert compute.rows == 4
    # Two rows already seen, in another order, around two new ones (one of them twice).
    second = _keys([("z", 9), (None, 2), ("z", 9), ("x", 1), (None, None)])
    assert cache(second).equals(_summary(second))
    assert compute.rows == 4 + 3
    assert len(cache) == 7 - 1  # ("z", 9) is remembered once
    # Everything seen: nothing computed.
    assert cache(second).equals(_summary(second))
    assert compute.rows == 7


def test_an_empty_frame_gives_an_empty_result():
    cache = DistinctCache(_summary)
    empty = _keys([])
    assert cache(empty).equals(_summary(empty))
    cache(_keys([("x", 1)]))
    assert cache(empty).equals(_summary(empty))


def test_keys_of_other_columns_are_computed_not_taken_from_the_cache():
    cache = DistinctCache(lambda frame: frame.select(pl.all().cast(pl.String).name.suffix("_text")))
    cache(_keys([("x", 1)]))
    other = pl.DataFrame({"a": ["x"], "c": [1]})
    assert cache(other).to_dicts() == [{"a_text": "x", "c_text": "1"}]


def test_the_row_bound_empties_the_cache_and_is_never_exceeded():
    compute = Counting()
    cache = DistinctCache(compute, max_rows=10)
    for start in range(0, 100, 4):
        frame = _keys([(f"v{i}", i) for i in range(start, start + 6)])
        assert cache(frame).equals(_summary(frame))
        assert len(cache) <= 10
    # One call with more distinct rows than the bound remembers only as many as fit.
    big = _keys([(f"w{i}", i) for i in range(25)])
    assert cache(big).equals(_summary(big))
    assert len(cache) == 10


def test_the_byte_bound_empties_the_cache():
    cache = DistinctCache(_summary, max_bytes=40_000)
    sizes = []
    for start in range(0, 2000, 100):
        frame = _keys([("long value " * 5 + str(i), i) for i in range(start, start + 100)])
        assert cache(frame).equals(_summary(frame))
        sizes.append(len(cache))
        if len(cache):
            assert cache._keys.estimated_size() + cache._values.estimated_size() <= 40_000
    # It filled up (more than one call's rows) and was emptied, more than once.
    assert max(sizes) > 100
    assert sum(1 for before, after in zip(sizes, sizes[1:], strict=False) if after < before) > 1


def test_threads_sharing_a_cache_get_the_computed_results():
    compute = Counting()
    cache = DistinctCache(compute, max_rows=300)
    frames = [_keys([(f"v{(i * 7 + j) % 400}", j % 3) for j in range(120)]) for i in range(40)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(cache, frames))
    for frame, result in zip(frames, results, strict=True):
        assert result.equals(_summary(frame))
    assert len(cache) <= 300


# -- the enricher's caches on real chunks ------------------------------------------------------


@pytest.fixture(scope="module")
def chunks() -> list[CodedEvents]:
    """nginx_logs parsed in chunks of ~1 MiB (the same clients and user agents recur)."""
    data = shared_log("nginx_logs").read_bytes()
    log_format = compile_log_format(COMBINED)
    template = compile_template(log_format, "remote_user", None)
    out, start, line = [], 0, 1
    while start < len(data):
        end = data.find(b"\n", start + 2**20)
        end = len(data) if end < 0 else end + 1
        parsed = parse_chunk(data[start:end], line, log_format, template)
        out.append(parsed.events)
        line += parsed.lines
        start = end
    assert len(out) > 3
    return out


def _enricher(tmp_path, **settings) -> Enricher:
    return Enricher(
        b"k" * 32,
        tmp_path / "no-ua-cache.parquet",
        site_hosts=("example.org",),
        routes=Routes.load(REPO / "config" / "routes.toml"),
        **settings,
    )


@pytest.mark.real_logs
@pytest.mark.parametrize("proxies", [(), ("10.0.0.0/8",)])
def test_a_chunk_enriches_the_same_after_earlier_chunks(tmp_path, chunks, proxies):
    warm = _enricher(tmp_path, trusted_proxies=proxies)
    for i, events in enumerate(chunks):
        got = warm.apply(events).decode()
        fresh = _enricher(tmp_path, trusted_proxies=proxies).apply(events).decode()
        assert got.equals(fresh), f"chunk {i}"
        assert got.schema == fresh.schema
    # The later chunks' clients and user agents were nearly all seen in earlier chunks.
    assert len(warm._clients) < sum(e.dims["client"].height for e in chunks)
    assert len(warm._agents) < sum(e.dims["user_agent"].height for e in chunks)


@pytest.mark.real_logs
def test_the_enricher_client_ip_hash_is_pseudonymise_s(tmp_path, chunks):
    keys = KeyStore(tmp_path, "a configured key")
    enricher = Enricher(keys.hash_key(), tmp_path / "no-ua-cache.parquet")
    events = chunks[0]
    enriched = enricher.apply(events)
    addresses = enriched.dims["client"].get_column("remote_addr").to_list()
    expected = [keyed_hash(keys.hash_key(), "ip", a) if a else None for a in addresses]
    assert enriched.dims["client"].get_column("client_ip_hash").to_list() == expected
    # pseudonymise keeps the enricher's hashes: the same as it computes without them.
    without = enriched.with_dim("client", enriched.dims["client"].drop("client_ip_hash"))
    a = pseudonymise(enriched, keys, "site").decode()
    b = pseudonymise(without, keys, "site").decode()
    assert a.equals(b.select(a.columns))


@pytest.mark.real_logs
def test_an_enricher_and_its_caches_are_freed_without_the_cycle_collector(tmp_path, chunks):
    # Each parse task makes an enricher; a reference cycle through its caches kept every one
    # of them (caches full of the unit's values) in memory until the cyclic collector ran.
    enricher = _enricher(tmp_path)
    enricher.apply(chunks[0])
    assert len(enricher._clients) > 0
    alive = weakref.ref(enricher)
    gc.disable()
    try:
        del enricher
        assert alive() is None
    finally:
        gc.enable()
