"""Results per distinct row of a dimension, kept across the chunks of a parse task.

Enrichment depends on a dimension row's values only (:mod:`parsers.coded`), and the same
user agents, addresses, requests and referrers come back in every chunk of a log. A
:class:`DistinctCache` remembers the enriched row of each key row it has computed, so a
chunk pays a lookup for the rows seen before (~0.1 us each: a row hash, a dict probe and a
column-wise check that the cached keys are equal) and computes only the new ones.

The cache lives in memory only, for the life of its owner (one :class:`transforms.enrich.Enricher`,
one parse task). It holds raw values (client addresses, user agents) and keyed hashes of
them; it is never written anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import polars as pl


class DistinctCache:
    """Computed rows per key row, across calls; thread-safe and bounded.

    Args:
        compute: maps a frame of key rows to a frame with the same number of rows, row ``i``
            the result for key row ``i``, depending on that row's values only (never on the
            other rows). Its columns must be the same, with the same types, for any input.
        max_rows: the most key rows remembered; a cache that would grow past it is emptied
            first (and refills from the next calls).
        max_bytes: the same bound on the memory of the remembered keys and results
            (polars' ``estimated_size``, bytes), checked after each insertion. The index
            adds 16 bytes per remembered row.
    """

    def __init__(
        self,
        compute: Callable[[pl.DataFrame], pl.DataFrame],
        max_rows: int = 100_000,
        max_bytes: int = 32 * 2**20,
    ) -> None:
        self.compute = compute
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # Row hashes (polars' hash_rows, fixed seed), sorted, and for each the row of
        # _keys/_values holding that key. A key whose hash another key already holds is not
        # remembered: it is computed on every call instead. Replaced, never modified in place,
        # so a snapshot taken under the lock stays consistent.
        self._hashes = np.empty(0, dtype=np.uint64)
        self._rows = np.empty(0, dtype=np.int64)
        self._keys: pl.DataFrame | None = None
        self._values: pl.DataFrame | None = None

    def __len__(self) -> int:
        """The number of key rows remembered."""
        return len(self._rows)

    def __call__(self, keys: pl.DataFrame) -> pl.DataFrame:
        """``compute(keys)``, with the rows seen before taken from the cache.

        Args:
            keys: the key rows (any columns and types, nulls allowed); duplicates are fine.

        Returns:
            The frame ``compute(keys)`` returns: one row per key row, in order.
        """
        with self._lock:
            known_hashes, known_rows, known_keys, known_values = self._hashes, self._rows, self._keys, self._values
        hashes = keys.hash_rows().to_numpy()
        hit = np.zeros(len(hashes), dtype=bool)
        # Keys of other columns or types than the cached ones are all new (and replace them).
        if len(known_hashes) and keys.schema == known_keys.schema:
            at = np.minimum(np.searchsorted(known_hashes, hashes), len(known_hashes) - 1)
            hit = known_hashes[at] == hashes
            rows = known_rows[at]
        if hit.any():
            # A hash match is a candidate: the cached key must also be equal, column by column.
            candidates = known_keys.gather(rows[hit])
            found = keys.filter(pl.Series(hit))
            same = pl.DataFrame(
                [found.get_column(c).eq_missing(candidates.get_column(c)) for c in keys.columns]
            ).select(pl.all_horizontal(pl.all()))
            hit[hit] = same.to_series().to_numpy()
        if len(hashes) and hit.all():
            return known_values.gather(rows)
        missing = ~hit
        missing_keys = keys.filter(pl.Series(missing))
        fresh = self.compute(missing_keys)
        if hit.any() and fresh.schema != known_values.schema:
            # Not the contract (same columns and types for any input), but the answer must
            # not depend on what was cached: compute every row afresh, and start over.
            self._clear()
            return self.compute(keys)
        self._remember(missing_keys, fresh, hashes[missing])
        if not hit.any():
            return fresh
        # Cached rows first, then the fresh ones; `order` puts each back at its key's place.
        order = np.empty(len(hashes), dtype=np.int64)
        order[hit] = np.arange(int(hit.sum()))
        order[missing] = np.arange(int(hit.sum()), len(hashes))
        combined = pl.concat([known_values.gather(rows[hit]), fresh], how="vertical")
        return combined.gather(order)

    def _clear(self) -> None:
        with self._lock:
            self._hashes, self._rows = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
            self._keys = self._values = None

    def _remember(self, keys: pl.DataFrame, values: pl.DataFrame, hashes: np.ndarray) -> None:
        """Add key rows and their results (``hashes``: their row hashes), unless their hash is
        taken; empty the cache first when a bound would be exceeded."""
        # One row per new hash: the first of duplicates within the batch.
        hashes, first = np.unique(hashes, return_index=True)
        with self._lock:
            known_hashes, known_rows, known_keys, known_values = self._hashes, self._rows, self._keys, self._values
            if known_keys is not None and (
                len(known_rows) + len(first) > self.max_rows
                or keys.schema != known_keys.schema
                or values.schema != known_values.schema
            ):
                known_hashes, known_rows = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
                known_keys = known_values = None
            if len(known_hashes):
                at = np.minimum(np.searchsorted(known_hashes, hashes), len(known_hashes) - 1)
                new = known_hashes[at] != hashes
                hashes, first = hashes[new], first[new]
            room = self.max_rows - len(known_rows)
            hashes, first = hashes[:room], first[:room]
            if not len(first):
                return
            take = pl.Series(np.sort(first), dtype=pl.UInt32)
            keys, values = keys.gather(take), values.gather(take)
            # Row numbers of the added keys, in the order of `hashes`.
            added = len(known_rows) + np.argsort(np.argsort(first))
            if known_keys is not None:
                keys = pl.concat([known_keys, keys], how="vertical", rechunk=False)
                values = pl.concat([known_values, values], how="vertical", rechunk=False)
                # Many small chunks make every gather slower: merge them now and then.
                if keys.n_chunks() > 4:
                    keys, values = keys.rechunk(), values.rechunk()
            if keys.estimated_size() + values.estimated_size() > self.max_bytes:
                self._hashes, self._rows = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
                self._keys = self._values = None
                return
            # Both sorted: insert the new hashes at their places.
            at = np.searchsorted(known_hashes, hashes)
            self._hashes = np.insert(known_hashes, at, hashes)
            self._rows = np.insert(known_rows, at, added)
            self._keys, self._values = keys, values
