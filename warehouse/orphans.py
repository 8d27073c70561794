"""Files nothing references any more: what a killed ingest or retention run left behind.

Used by retention (:mod:`warehouse.retention`, step ``sweep_orphans``) and by its dry run
(:mod:`warehouse.retention_plan`), which lists the same files without deleting them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse import storage
from warehouse.settings import Settings

log = logging.getLogger(__name__)

# Unregistered Parquet files younger than this are left alone: an ingest killed after renaming
# its files into place is retried by Airflow within minutes and registers them then.
ORPHAN_GRACE = dt.timedelta(hours=1)
# A staging dir untouched this long belongs to a run that will not commit any more.
STAGING_GRACE = dt.timedelta(days=1)


def unlink_queued(con: duckdb.DuckDBPyConnection, data_dir: Path) -> list[str]:
    """Delete the files a committed purge unregistered, then forget them; returns their paths.

    Deleting a file that is already gone is fine, so a run killed half-way through is finished
    by the next one.
    """
    paths = [r[0] for r in con.execute("select path from retention_unlink_queue order by path").fetchall()]
    for path in paths:
        (data_dir / path).unlink(missing_ok=True)
    remove_empty_dirs(data_dir, {str(Path(p).parent) for p in paths})
    if paths:
        con.execute("delete from retention_unlink_queue where path = any(?)", [paths])
    return paths


def remove_empty_dirs(data_dir: Path, parents: Iterable[str]) -> None:
    for parent in parents:
        try:
            (data_dir / parent).rmdir()  # partition dirs only: fails (and is left) when not empty
        except OSError:
            pass


def _newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                newest = max(newest, (Path(root) / name).stat().st_mtime)
            except FileNotFoundError:
                pass
    return newest


def find_orphans(
    settings: Settings, con: duckdb.DuckDBPyConnection, wall_now: dt.datetime
) -> tuple[list[Path], list[Path]]:
    """What :func:`sweep_orphans` deletes, without deleting: ``(Parquet files, staging dirs)``.

    Parquet files under ``events/`` and ``quarantine/`` that no ``ingest_files`` row references
    and that were last modified more than :data:`ORPHAN_GRACE` before ``wall_now``; staging dirs
    (``staging/<run id>/``) with nothing modified for :data:`STAGING_GRACE`.
    """
    data_dir = settings.data_dir
    oldest_orphan = (wall_now - ORPHAN_GRACE).timestamp()
    oldest_staging = (wall_now - STAGING_GRACE).timestamp()
    registered = {r[0] for r in con.execute("select path from ingest_files").fetchall()}
    files = [
        path
        for top in (settings.events_dir, settings.quarantine_dir)
        for path in (sorted(top.rglob("*.parquet")) if top.exists() else [])
        if str(path.relative_to(data_dir)) not in registered and path.stat().st_mtime < oldest_orphan
    ]
    staging = []
    if settings.staging_dir.exists():
        staging = [
            d for d in sorted(settings.staging_dir.iterdir()) if d.is_dir() and _newest_mtime(d) < oldest_staging
        ]
    return files, staging


def sweep_orphans(settings: Settings, wall_now: dt.datetime) -> dict:
    """Delete files nothing references: what a killed ingest or purge left behind.

    * Files queued by a purge that was killed before deleting them (``retention_unlink_queue``).
    * The unregistered Parquet files and stale staging dirs of :func:`find_orphans`.

    The warehouse stays open for writing throughout, so no commit can be registering files
    meanwhile. ``wall_now`` is real time, not the retention clock: the grace protects files of
    ingest runs happening now (a commit killed after renaming its files into place, retried by
    Airflow within minutes, registers them), whatever dates a backfill or test passes as clock.

    Returns:
        ``{"files": [paths relative to the data dir], "staging": [run dir names]}``.
    """
    data_dir = settings.data_dir
    con = storage.connect(data_dir)
    try:
        removed = unlink_queued(con, data_dir)
        files, stale = find_orphans(settings, con, wall_now)
        for path in files:
            path.unlink(missing_ok=True)
            removed.append(str(path.relative_to(data_dir)))
        remove_empty_dirs(data_dir, {str(path.parent.relative_to(data_dir)) for path in files})
        for run_dir in stale:
            shutil.rmtree(run_dir, ignore_errors=True)
        staging = [d.name for d in stale]
    finally:
        con.close()
    if removed or staging:
        log.warning("removed %d orphaned file(s) and %d stale staging dir(s)", len(removed), len(staging))
    return {"files": removed, "staging": staging}
