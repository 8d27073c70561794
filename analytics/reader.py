"""The API's view of the published snapshots: one read-only connection per generation.

Every request takes the current generation (a ``stat`` of ``analytics.duckdb`` tells whether a
new one was published), runs on its own cursor of that generation's connection, and lets go.
When a new generation appears, later requests use it; the old connection is closed once its
last request is done, which releases DuckDB's lock on the file so that the next publication
can delete it (warehouse/snapshot.py).

Connections are opened on the generation's own file (``snapshots/analytics-<n>.duckdb``), not
on the stable path: DuckDB caches one database instance per path in a process, and reopening
the stable path would hand back the old generation's instance.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from warehouse.snapshot import SNAPSHOTS_DIR, snapshot_path
from warehouse.storage import ModelParams


class NoSnapshot(RuntimeError):
    """Nothing has been published in the data dir yet."""


@dataclass(frozen=True)
class Identity:
    """The ``snapshot_info`` row of a generation, as every answer states it."""

    generation: int
    data_as_of: str | None
    ingest_run_id: str | None
    published_at: str
    definitions_version: str
    timezone: str
    newest_day: dt.date | None
    include_crawlers: bool
    session_gap_s: int

    @property
    def rules(self) -> ModelParams:
        """The counting rules the snapshot's aggregates were built with (FOOTFALL_TIMEZONE,
        FOOTFALL_COUNT_CRAWLERS, FOOTFALL_SESSION_GAP_S of the pipeline that published it)."""
        return ModelParams(self.timezone, self.include_crawlers, self.session_gap_s)

    def as_dict(self) -> dict:
        """The ``snapshot`` member of every answer (docs/staff/api.md)."""
        return {
            "generation": self.generation,
            "data_as_of": self.data_as_of,
            "ingest_run_id": self.ingest_run_id,
            "published_at": self.published_at,
            "definitions_version": self.definitions_version,
        }


@dataclass
class Generation:
    """One open generation: its connection, identity and the requests using it."""

    inode: int
    con: duckdb.DuckDBPyConnection
    identity: Identity
    users: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        """One request is done with it; the last one closes a retired generation."""
        with self.lock:
            self.users -= 1
            close = self.retired and self.users == 0
        if close:
            self.con.close()

    def retire(self) -> None:
        """A newer generation is current: close this one now if unused, else after its last request."""
        with self.lock:
            self.retired = True
            close = self.users == 0
        if close:
            self.con.close()


def _read_identity(con: duckdb.DuckDBPyConnection) -> Identity:
    row = con.execute(
        "select generation, strftime(data_as_of at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ'), ingest_run_id,"
        " strftime(published_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ'), definitions_version, timezone, newest_day,"
        " include_crawlers, session_gap_s from snapshot_info"
    ).fetchone()
    return Identity(*row)


class SnapshotReader:
    """The current generation of ``<data_dir>/analytics.duckdb`` for concurrent requests."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.stable = snapshot_path(self.data_dir)
        self._current: Generation | None = None
        self._lock = threading.Lock()

    def _file_of(self, inode: int) -> Path | None:
        for path in (self.data_dir / SNAPSHOTS_DIR).glob("analytics-*.duckdb"):
            try:
                if path.stat().st_ino == inode:
                    return path
            except FileNotFoundError:
                continue
        return None

    def _open(self) -> Generation:
        """Open the generation the stable path points at now (retrying if it moves meanwhile)."""
        for _ in range(5):
            try:
                inode = self.stable.stat().st_ino
            except FileNotFoundError:
                raise NoSnapshot(
                    f"no snapshot published in {self.data_dir} yet: the ingest DAG publishes one after each "
                    "aggregate rebuild (or run `python -m warehouse.cli publish`)"
                ) from None
            path = self._file_of(inode)
            if path is None:
                continue  # superseded and deleted between the stat and the listing: look again
            try:
                con = duckdb.connect(str(path), read_only=True)
            except duckdb.IOException:
                continue  # deleted since: a newer generation is current
            con.execute("set TimeZone = 'UTC'")
            try:
                identity = _read_identity(con)
            except duckdb.BinderException:
                con.close()
                raise NoSnapshot(
                    f"the snapshot in {self.data_dir} was published by an older footfall and lacks the counting "
                    "rules it was built with: publish it again (`python -m warehouse.cli publish`)"
                ) from None
            return Generation(inode, con, identity)
        raise NoSnapshot(f"the snapshot in {self.data_dir} kept changing while it was opened; try again")

    def _acquire(self) -> Generation:
        try:
            inode = self.stable.stat().st_ino
        except FileNotFoundError:
            inode = None
        with self._lock:
            current = self._current
            if current is None or current.inode != inode:
                fresh = self._open()
                if current is not None:
                    current.retire()
                self._current = current = fresh
            with current.lock:
                current.users += 1
            return current

    def identity(self) -> Identity:
        """The identity of the current generation."""
        generation = self._acquire()
        try:
            return generation.identity
        finally:
            generation.release()

    @contextmanager
    def cursor(self) -> Iterator[tuple[Identity, duckdb.DuckDBPyConnection]]:
        """The current generation's identity and a cursor of its own on it, for one request.

        Raises:
            NoSnapshot: nothing published yet.
        """
        generation = self._acquire()
        try:
            with generation.lock:  # one thread at a time on the shared connection object
                cursor = generation.con.cursor()
            try:
                cursor.execute("set TimeZone = 'UTC'")
                yield generation.identity, cursor
            finally:
                cursor.close()
        finally:
            generation.release()

    def close(self) -> None:
        """Close the open generation (at shutdown)."""
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.retire()
