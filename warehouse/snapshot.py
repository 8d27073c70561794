"""Read-only snapshots of the warehouse, published after every aggregate rebuild.

Analysts, the CLI's read commands and the analytics API read ``$FOOTFALL_DATA_DIR/analytics.duckdb``,
never ``warehouse.duckdb``: DuckDB lets one process write a file and refuses every other opener
meanwhile, read-only ones included, so a reader of the warehouse would make the pipeline's
tasks fail, and the pipeline would lock readers out. Each publication (:func:`publish`) writes
a new DuckDB file, a *generation*, beside the old ones, then makes it current atomically:

1. ``ATTACH`` ``snapshots/analytics-<generation>.duckdb`` (a new file) from the pipeline's write
   connection and copy into it, in one transaction, everything a reader needs: the tables of
   :func:`snapshot_tables` (aggregates, monthly rollups, dimensions, ``data_quality``,
   ``ingest_runs``, ``ingest_files``), the macros and views (``warehouse/ddl/003_macros.sql``,
   ``warehouse/views/*.sql``), the ``events``, ``quarantine`` and ``rejected_lines`` views over the
   Parquet files registered now, and the one-row table ``snapshot_info`` (its identity).
   The views of :data:`MATERIALIZED_VIEWS` are stored as tables: same rows, less work per query.
   ``DETACH`` checkpoints it: the file is complete, with no write-ahead log.
2. Record the generation and the Parquet files its views read (``snapshot_generations``,
   ``snapshot_files``) in the warehouse.
3. Hard-link the file to a temporary name and ``os.replace`` it onto ``analytics.duckdb``: a
   rename is atomic, so an opener gets the old generation or the new one, never part of one.
   A reader that has the old one open keeps reading its inode until it reconnects.
4. Delete the generations no reader can still be using (:func:`collect`), then the Parquet
   files that retention or a re-read unregistered and that no remaining generation reads
   (:func:`release_files`).

"No reader can still be using a generation" means, for a generation that is not current:
it stopped being current at least :data:`SETTLE_S` seconds ago (DuckDB takes its file lock in
the same call that opens the file, so an opener of the stable path that got the old inode just
before the switch holds its lock within microseconds), this process has no descriptor open on
its inode (``/proc/self/fd``), and a non-blocking exclusive ``lockf`` on the file succeeds:
every DuckDB connection, read-only ones included, holds a POSIX lock on its database file for
as long as it is open (measured with real processes on DuckDB 2.0, tests/test_snapshot.py).
The lock is held while the file is unlinked, so nobody can open it in between.

Identity (``snapshot_info``, :func:`source_identity`): ``data_as_of`` (the newest event's time),
the ingest run whose commit the data comes from, ``definitions_version`` (a digest of every SQL
file that defines a metric, :func:`definitions_version`), ``published_at`` and the generation.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import functools
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import storage
from warehouse.rollups import ROLLUPS, rollup_sql
from warehouse.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "analytics.duckdb"
SNAPSHOTS_DIR = "snapshots"
# A generation superseded less than this long ago is not deleted yet: see the module docstring.
SETTLE_S = 0.1
# The SQL that defines the metrics: what definitions_version digests, besides ROLLUPS.
ANALYTICS_SQL_DIR = REPO_ROOT / "analytics" / "sql"
_DEFINITION_DDL = (*storage.AGGREGATE_DDL, "003_macros.sql", "007_retention.sql")
# Tables copied besides the aggregates and rollups: what the views, the CLI and analysts read.
_STATE_TABLES = (
    "data_quality", "ingest_runs", "ingest_files", "rollup_days", "retention_purged_days", "warehouse_meta",
)  # fmt: skip
_GENERATION_RE = re.compile(r"analytics-(\d+)\.duckdb")
# Views stored as tables in a snapshot: their result depends only on tables the snapshot
# freezes, and every range query of the community metrics reads them (GeoIP onto the
# division tree for every visitor-day); a table saves that work per query.
MATERIALIZED_VIEWS = ("visitor_daily_divisions",)


def snapshot_tables() -> tuple[str, ...]:
    """Every table a snapshot holds (besides ``snapshot_info``): the aggregate tables of
    :data:`warehouse.storage.AGGREGATE_TABLES`, the monthly rollups of
    :data:`warehouse.rollups.ROLLUPS`, the dimension tables and :data:`_STATE_TABLES`."""
    from warehouse.dimensions import SPECS

    dimensions = (*(f"dim_{spec.name}" for spec in SPECS), "dim_division_ancestors")
    return (*storage.AGGREGATE_TABLES, *(r.monthly for r in ROLLUPS), *dimensions, *_STATE_TABLES)


@functools.cache
def definitions_version() -> str:
    """``sha256:`` and the first 16 hex digits of a SHA-256 over every SQL text that defines a
    metric: the models (``transforms/sql``), the views and macros (``warehouse/views``,
    ``warehouse/ddl/003_macros.sql``), the DDL of the aggregate and rollup tables, the rollup
    statements, and the analytics API's queries (``analytics/sql``). It changes when one does."""
    digest = hashlib.sha256()
    files = [
        *sorted(storage.MODELS_DIR.glob("*.sql")),
        *sorted(storage.VIEWS_DIR.glob("*.sql")),
        *(storage.DDL_DIR / name for name in _DEFINITION_DDL),
        *sorted(ANALYTICS_SQL_DIR.glob("*.sql")),
    ]
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}\0".encode() + path.read_bytes() + b"\0")
    for rollup in ROLLUPS:
        digest.update(rollup_sql(rollup).encode() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def _iso_z(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def source_identity(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Where the numbers read through ``con`` (a warehouse connection) come from.

    Returns:
        ``{"data_as_of": ISO-8601 UTC time of the newest event (None without events),
        "ingest_run_id": the newest ingest run that committed new lines (None before any),
        "definitions_version": definitions_version()}``. Reports carry it, and every
        snapshot's ``snapshot_info``.
    """
    # The newest event is in the newest UTC partition: only its files are read.
    (newest,) = con.execute(
        "select epoch_us(max(ts)) from events"
        " where event_date = (select max(event_date) from ingest_files where kind = 'events')"
    ).fetchone()
    # A run that found nothing new changed no number: the data still come from the one before.
    run = con.execute(
        "select run_id from ingest_runs where lines_read > 0 order by committed_at desc, run_id desc limit 1"
    ).fetchone()
    return {
        "data_as_of": _iso_z(dt.datetime.fromtimestamp(newest / 1e6, dt.UTC)) if newest is not None else None,
        "ingest_run_id": run[0] if run else None,
        "definitions_version": definitions_version(),
    }


@dataclass(frozen=True)
class SnapshotInfo:
    """One published generation (the row of its ``snapshot_info`` table).

    Attributes:
        generation: 1, 2, 3... in publication order.
        path: its file, ``<data dir>/snapshots/analytics-<generation>.duckdb``.
        data_as_of, ingest_run_id, definitions_version: see :func:`source_identity`.
        published_at: ISO-8601 UTC.
        published_by: what published it: ``ingest``, ``rebuild``, ``retention`` or ``publish``.
        timezone: FOOTFALL_TIMEZONE of its days and hours.
        newest_day: the newest day with page views (the "today" of ``visitor_stats_today``), or
            the newest day with hits, or None for an empty warehouse.
    """

    generation: int
    path: Path
    data_as_of: str | None
    ingest_run_id: str | None
    definitions_version: str
    published_at: str
    published_by: str
    timezone: str
    newest_day: dt.date | None


def snapshot_path(data_dir: Path) -> Path:
    """The stable path of the current snapshot: ``<data dir>/analytics.duckdb``."""
    return Path(data_dir) / SNAPSHOT_NAME


def generation_path(data_dir: Path, generation: int) -> Path:
    """The file of one generation."""
    return Path(data_dir) / SNAPSHOTS_DIR / f"analytics-{generation:06d}.duckdb"


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current snapshot, in UTC (like :func:`warehouse.storage.connect`).

    It keeps reading the generation it opened, whatever is published meanwhile, until closed.

    Raises:
        FileNotFoundError: nothing has been published yet (the message says how to publish).
    """
    path = snapshot_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no snapshot at {path}: the ingest DAG publishes one after rebuilding the aggregates; "
            "to publish one now from an existing warehouse, run `python -m warehouse.cli publish`"
        )
    con = duckdb.connect(str(path), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con


def _sort_key(con: duckdb.DuckDBPyConnection, database: str, table: str) -> str:
    """The table's time column, so that a snapshot's rows are stored in time order and range
    filters skip row groups by their min/max; empty when it has none."""
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where database_name = ? and schema_name = 'main'"
            " and table_name = ?",
            [database, table],
        ).fetchall()
    }
    return next((f" order by {c}" for c in ("day", "hour", "month", "event_date") if c in columns), "")


def _build(con: duckdb.DuckDBPyConnection, path: Path, info: dict) -> None:
    """Write the generation file ``path`` from the warehouse open on ``con`` (see the module docstring)."""
    (main,) = con.execute("select current_database()").fetchone()
    con.execute("attach ? as snapshot_build", [str(path)])
    try:
        con.execute("use snapshot_build")
        with storage.transaction(con):
            for table in snapshot_tables():
                con.execute(f'create table {table} as select * from "{main}".main.{table}{_sort_key(con, main, table)}')
            # refresh_views records its fingerprint with an upsert: the key must be a key again.
            con.execute("alter table warehouse_meta add primary key (key)")
            con.execute((storage.DDL_DIR / "003_macros.sql").read_text())
            storage.refresh_views(con, Path(info.pop("data_dir")))
            for view in MATERIALIZED_VIEWS:
                con.execute(f"create table {view}__table as select * from {view} order by day")
                con.execute(f"drop view {view}")
                con.execute(f"alter table {view}__table rename to {view}")
            con.execute(
                "create table snapshot_info as select ?::bigint as generation, ?::timestamptz as data_as_of, "
                "?::varchar as ingest_run_id, ?::varchar as definitions_version, ?::timestamptz as published_at, "
                "?::varchar as published_by, ?::varchar as timezone, ?::date as newest_day, "
                "?::boolean as include_crawlers, ?::integer as session_gap_s",
                [
                    info["generation"], info["data_as_of"], info["ingest_run_id"], info["definitions_version"],
                    info["published_at"], info["published_by"], info["timezone"], info["newest_day"],
                    info["include_crawlers"], info["session_gap_s"],
                ],
            )  # fmt: skip
    finally:
        con.execute(f'use "{main}"')
        con.execute("detach snapshot_build")


def publish(
    con: duckdb.DuckDBPyConnection, settings: Settings, published_by: str, *, settle_s: float = SETTLE_S
) -> SnapshotInfo:
    """Publish a new generation from the warehouse open for writing on ``con``, make it current,
    and delete what no reader can still be using (see the module docstring).

    Called after every aggregate rebuild (``warehouse.ingest.aggregate``, ``cli rebuild``, the
    retention steps), inside the task that holds the ``footfall_warehouse`` pool; not inside
    a transaction.

    Args:
        published_by: ``ingest``, ``rebuild``, ``retention`` or ``publish``, stored with it.
        settle_s: :data:`SETTLE_S` (tests pass 0 to see a generation go at once).

    Returns:
        The new generation.

    Raises:
        OSError, duckdb.Error: the file could not be written or switched; the previous
            generation stays current and the failed file is removed by the next publication.
    """
    data_dir = Path(settings.data_dir)
    (data_dir / SNAPSHOTS_DIR).mkdir(parents=True, exist_ok=True)
    (last,) = con.execute("select coalesce(max(generation), 0) from snapshot_generations").fetchone()
    on_disk = [int(m.group(1)) for p in (data_dir / SNAPSHOTS_DIR).iterdir() if (m := _GENERATION_RE.fullmatch(p.name))]
    generation = max([last, *on_disk]) + 1
    path = generation_path(data_dir, generation)
    (newest_day,) = con.execute(
        "select coalesce((select max(day) from visitor_daily), (select max(day) from daily_traffic))"
    ).fetchone()
    info = {
        **source_identity(con),
        "generation": generation,
        "published_at": _iso_z(dt.datetime.now(dt.UTC)),
        "published_by": published_by,
        "timezone": settings.timezone,
        "newest_day": newest_day,
        # The counting rules the aggregates were built with: a reader that counts from the
        # events (the API's filtered answers) must count alike, whatever its own environment says.
        "include_crawlers": settings.model_params.include_crawlers,
        "session_gap_s": settings.model_params.session_gap_s,
        "data_dir": data_dir,
    }
    try:
        _build(con, path, dict(info))
        with storage.transaction(con):
            con.execute(
                "insert into snapshot_generations values (?, ?, ?, null, ?, ?, ?)",
                [generation, str(path.relative_to(data_dir)), info["published_at"], info["data_as_of"],
                 info["ingest_run_id"], info["definitions_version"]],
            )  # fmt: skip
            con.execute(
                "insert into snapshot_files select ?, path from ingest_files where kind in "
                "('events', 'quarantine', 'rejected')",
                [generation],
            )
        _make_current(path, snapshot_path(data_dir))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    con.execute(
        "update snapshot_generations set superseded_at = ? where superseded_at is null and generation < ?",
        [info["published_at"], generation],
    )
    removed = collect(con, data_dir, settle_s=settle_s)
    released = release_files(con, data_dir)
    log.info(
        "published snapshot generation %d (%s; data as of %s, %s); removed generations %s, %d Parquet file(s)",
        generation, published_by, info["data_as_of"], info["definitions_version"], removed, len(released),
    )  # fmt: skip
    return SnapshotInfo(
        generation, path, info["data_as_of"], info["ingest_run_id"], info["definitions_version"],
        info["published_at"], published_by, settings.timezone, newest_day,
    )  # fmt: skip


def _make_current(path: Path, stable: Path) -> None:
    """Point ``stable`` at ``path``'s inode atomically (hard link, then rename over), durably."""
    tmp = stable.with_name(f".{stable.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.link(path, tmp)
    os.replace(tmp, stable)
    directory = os.open(stable.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _open_inodes() -> set[tuple[int, int]]:
    """(device, inode) of every file this process has open (Linux ``/proc/self/fd``; empty elsewhere)."""
    found = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        try:
            st = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def _unlink_if_unused(path: Path, open_here: set[tuple[int, int]]) -> bool:
    """Delete ``path`` unless a process holds a lock on it or this process has it open.

    Never probes a file this process has open: closing the probe's descriptor would release
    this process's own POSIX locks on it (DuckDB's among them). Returns True when deleted (or gone).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return True
    if (st.st_dev, st.st_ino) in open_here:
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False  # a DuckDB connection (some reader) has it open
            raise
        path.unlink()
        return True
    finally:
        os.close(fd)


def collect(con: duckdb.DuckDBPyConnection, data_dir: Path, *, settle_s: float = SETTLE_S) -> list[int]:
    """Delete every generation file no reader can still be using, and forget it.

    Considers the generations of ``snapshot_generations`` that are not current and the
    ``snapshots/`` files no row knows (left by a publication that failed before recording
    it). Returns the generations removed.
    """
    data_dir = Path(data_dir)
    stable = snapshot_path(data_dir)
    current = stable.stat().st_ino if stable.exists() else None
    rows = con.execute(
        "select generation, file, epoch(superseded_at) from snapshot_generations order by generation"
    ).fetchall()
    known = {data_dir / file for _, file, _ in rows}
    strays = [
        p
        for p in sorted((data_dir / SNAPSHOTS_DIR).glob("analytics-*.duckdb"))
        if p not in known and p.stat().st_ino != current
    ]
    newest_superseded = max((s for _, _, s in rows if s is not None), default=None)
    if newest_superseded is not None and (wait := newest_superseded + settle_s - time.time()) > 0:
        time.sleep(wait)
    open_here = _open_inodes()
    removed = []
    for generation, file, superseded in rows:
        path = data_dir / file
        if path.exists() and (superseded is None or path.stat().st_ino == current):
            continue  # the current generation
        if _unlink_if_unused(path, open_here):
            con.execute("delete from snapshot_files where generation = ?", [generation])
            con.execute("delete from snapshot_generations where generation = ?", [generation])
            removed.append(generation)
    for path in strays:
        _unlink_if_unused(path, open_here)
    return removed


def protected_files(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Parquet files (relative to the data dir) that a generation still on disk reads."""
    return {r[0] for r in con.execute("select distinct path from snapshot_files").fetchall()}


def remove_empty_dirs(data_dir: Path, parents) -> None:
    """Remove each of ``parents`` (dirs relative to ``data_dir``) that is empty; leave the rest."""
    for parent in parents:
        try:
            (Path(data_dir) / parent).rmdir()
        except OSError:
            pass


def release_files(con: duckdb.DuckDBPyConnection, data_dir: Path) -> list[str]:
    """Delete the Parquet files waiting in ``retention_unlink_queue`` (unregistered by a purge or
    a re-read) that no generation still on disk reads, then forget them; returns their paths.

    The others wait for their generations to go: a reader holding an old snapshot keeps
    reading them. Deleting a file that is already gone is fine, so a run killed half-way
    through is finished by the next one.
    """
    protected = protected_files(con)
    queued = [r[0] for r in con.execute("select path from retention_unlink_queue order by path").fetchall()]
    paths = [p for p in queued if p not in protected]
    for path in paths:
        (Path(data_dir) / path).unlink(missing_ok=True)
    remove_empty_dirs(data_dir, {str(Path(p).parent) for p in paths})
    if paths:
        con.execute("delete from retention_unlink_queue where path = any(?)", [paths])
    if len(paths) < len(queued):
        # Retention's promise waits for the reader: say so where operators look.
        log.warning(
            "%d unregistered Parquet file(s) (purged or replaced) kept on disk: a snapshot still open reads them; "
            "they are deleted at the first publication after it is closed",
            len(queued) - len(paths),
        )
    return paths
