"""Staged files: what a parse task leaves for the commit, on a shared filesystem or in object storage.

A parse task writes its unit's staged Parquet (events per day, quarantined lines) and the user
agents it classified into a local folder, ``staging/<run>/<unit>/`` under the data dir; the
commit task, on the warehouse host, moves them into ``events/``, ``quarantine/`` and ``cache/``.
Where they travel in between is set by ``FOOTFALL_STAGING_URL``:

* unset: they stay where they were written. Every host mounts the same data dir
  (docs/scaling.md, "Shared storage"), so the commit renames what a parse host wrote.
* ``s3://bucket/prefix``: object storage, through Airflow's ``ObjectStoragePath`` and the
  Amazon provider's ``s3fs`` filesystem. The Airflow Connection ``FOOTFALL_STORAGE_CONN_ID``
  (default :data:`DEFAULT_CONN_ID`, type ``aws``) gives the credentials, and the endpoint as
  ``endpoint_url`` in its extra for a store that is not AWS's. A parse task uploads its folder
  to ``<prefix>/<run>/<unit>/`` and deletes the local copy (:func:`publish`); the commit
  downloads a run's objects into its own ``staging/<run>/`` (:func:`fetch`), installs them as
  from a shared filesystem, and deletes the run's prefix after its transaction
  (:func:`delete_run`). The warehouse's Parquet never leaves the warehouse host's disk.

Exactly once: a unit's objects are keyed by run and unit, and a parse task clears its unit's
prefix before writing (:func:`unit_dir`), so a retried parse leaves only its own try's objects,
and the commit installs only the files its parse results (XCom) list, never whatever a listing
shows. The objects are deleted only after the commit's transaction: a commit interrupted
before that downloads them again on its retry, and the manifest rules of
:func:`warehouse.ingest.commit.commit` keep anything from counting twice. Retention's orphan sweep
deletes run prefixes nothing touched for a day (:func:`stale_runs`, :func:`remove`).

Nothing here is imported by a DAG file: ``airflow.sdk.ObjectStoragePath``, boto and s3fs are
imported on first use in a task, and never with filesystem staging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from warehouse.failpoints import failpoint
from warehouse.settings import ConfigError, Settings

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "footfall_storage"
# Object storage schemes footfall stages in: the ones whose filesystem a pinned provider brings.
SCHEMES = {"s3": "apache-airflow-providers-amazon[s3fs]"}


class StagingConfig(Protocol):
    """Where staged files go: :class:`warehouse.settings.Settings` has these attributes, and so
    has the parse task's :class:`warehouse.ingest.parse_job.ParseJob`."""

    data_dir: Path
    staging_dir: Path
    staging_url: str | None
    storage_conn_id: str


def parse_staging_url(value: str | None) -> str | None:
    """``FOOTFALL_STAGING_URL`` checked: ``None`` (filesystem staging) or ``s3://bucket[/prefix]``
    without a trailing slash.

    Raises:
        ConfigError: another scheme, no bucket, or credentials in the URL.
    """
    if value is None or not value.strip():
        return None
    url = urlparse(value.strip())
    if url.scheme not in SCHEMES:
        raise ConfigError(
            f"FOOTFALL_STAGING_URL={value!r}: unknown scheme {url.scheme or '(none)'!r}; set it to "
            "s3://bucket/prefix for object storage, or unset it to stage in FOOTFALL_DATA_DIR/staging"
        )
    if not url.hostname or url.username or url.password or url.query:
        raise ConfigError(
            f"FOOTFALL_STAGING_URL={value!r} must be s3://bucket/prefix, with no credentials or query; "
            "the credentials and the endpoint go in the Airflow Connection FOOTFALL_STORAGE_CONN_ID"
        )
    return f"{url.scheme}://{url.hostname}{url.path}".rstrip("/")


def is_remote(settings: StagingConfig) -> bool:
    """Whether staged files travel through object storage (``FOOTFALL_STAGING_URL`` is set)."""
    return settings.staging_url is not None


def _store(settings: StagingConfig):
    """``(fsspec filesystem, root path without scheme)`` of the staging URL, through the Connection."""
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(settings.staging_url, conn_id=settings.storage_conn_id)
    return root.fs, root.path.rstrip("/")


def _scheme(settings: StagingConfig) -> str:
    return urlparse(settings.staging_url).scheme


def _remove_prefix(fs, prefix: str) -> None:
    try:
        fs.rm(prefix, recursive=True)
    except FileNotFoundError:
        pass
    fs.invalidate_cache(prefix)


def unit_dir(settings: StagingConfig, run_key: str, unit_key: str) -> Path:
    """The empty local folder a parse task writes one unit's staged files into.

    ``staging/<run_key>/<unit_key>/`` under the data dir, emptied first; with object staging
    the unit's prefix in the store is emptied too, so a retried parse starts again from nothing.
    """
    stage = settings.staging_dir / run_key / unit_key
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    if is_remote(settings):
        fs, root = _store(settings)
        _remove_prefix(fs, f"{root}/{run_key}/{unit_key}")
    return stage


def publish(settings: StagingConfig, stage: Path, files: list[dict]) -> list[dict]:
    """Hand a parsed unit's staged files to the commit; returns the file entries to pass on.

    Filesystem staging: ``files`` as they are (``staged`` relative to the data dir). Object
    staging: each file is uploaded to ``<staging URL>/<run>/<unit>/<name>``, its ``staged``
    becomes that URL, and the local folder is deleted.
    """
    if not is_remote(settings):
        return files
    fs, root = _store(settings)
    prefix = f"{root}/{stage.parent.name}/{stage.name}"
    published = []
    for f in files:
        local = settings.data_dir / f["staged"]
        fs.put_file(str(local), f"{prefix}/{local.name}")
        published.append(f | {"staged": f"{_scheme(settings)}://{prefix}/{local.name}"})
        failpoint("staging.mid_upload")
    shutil.rmtree(stage, ignore_errors=True)
    return published


def fetch(settings: StagingConfig, run_key: str, results: Iterable[dict]) -> list[dict]:
    """Bring a run's staged files to the warehouse host before its commit; returns the results
    with every ``staged`` relative to the data dir, as filesystem staging gives them.

    Object staging: the run's prefix is listed once and each listed file that a result names
    is downloaded to ``staging/<run>/<unit>/<name>``. A file the store no longer has was
    installed by an earlier try of this commit that got as far as deleting the prefix: its
    entry points at the local path, which the commit then finds already moved into place.
    """
    results = list(results)
    if not is_remote(settings):
        return results
    fs, root = _store(settings)
    scheme = f"{_scheme(settings)}://"
    run_prefix = f"{root}/{run_key}"
    fs.invalidate_cache(run_prefix)
    try:
        present = set(fs.find(run_prefix))
    except FileNotFoundError:
        present = set()
    remote, local, fetched = [], [], []
    for result in results:
        files = []
        for f in result["files"]:
            staged = f["staged"]
            if staged.startswith(scheme):
                key = staged[len(scheme) :]
                target = settings.staging_dir / run_key / Path(key).parent.name / Path(key).name
                if key in present:
                    remote.append(key)
                    local.append(str(target))
                f = f | {"staged": str(target.relative_to(settings.data_dir))}
            files.append(f)
        fetched.append(result | {"files": files})
    for path in local:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if remote:
        fs.get(remote, local)  # one call: s3fs downloads them concurrently
    return fetched


def delete_run(settings: StagingConfig, run_key: str) -> None:
    """Delete what is left of a run's staged files, locally and in the store (after its commit)."""
    shutil.rmtree(settings.staging_dir / run_key, ignore_errors=True)
    if is_remote(settings):
        fs, root = _store(settings)
        _remove_prefix(fs, f"{root}/{run_key}")


class StagedRun(str):
    """A run prefix in object storage found stale by :func:`stale_runs` (``.name``: the run key)."""

    @property
    def name(self) -> str:
        return self.rsplit("/", 1)[-1]


def stale_runs(settings: StagingConfig, oldest: float) -> list[StagedRun]:
    """Run prefixes in object storage whose newest object is older than ``oldest`` (seconds
    since the epoch): runs that will not commit any more. Empty with filesystem staging."""
    if not is_remote(settings):
        return []
    fs, root = _store(settings)
    fs.invalidate_cache(root)
    try:
        runs = [entry["name"] for entry in fs.ls(root, detail=True) if entry["type"] == "directory"]
    except FileNotFoundError:
        return []
    stale = []
    for run in sorted(runs):
        modified = [info["LastModified"].timestamp() for info in fs.find(run, detail=True).values()]
        if not modified or max(modified) < oldest:
            stale.append(StagedRun(run))
    return stale


def remove(settings: StagingConfig, run: Path | StagedRun) -> None:
    """Delete one stale run: a local staging dir, or a run prefix of :func:`stale_runs`."""
    if isinstance(run, StagedRun):
        fs, _ = _store(settings)
        _remove_prefix(fs, str(run))
    else:
        shutil.rmtree(run, ignore_errors=True)


def check(settings: Settings) -> list[str]:
    """Errors of the object staging configuration (none with filesystem staging), each saying
    what to fix: the Connection is missing, or the bucket cannot be reached or listed with it."""
    if not is_remote(settings):
        return []
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = settings.storage_conn_id
    try:
        with _metadata_db_connections():
            BaseHook.get_connection(conn_id)
            return _check_bucket(settings)
    except AirflowNotFoundException:
        return [
            f"FOOTFALL_STAGING_URL is {settings.staging_url} but the Airflow Connection {conn_id!r} "
            f"(FOOTFALL_STORAGE_CONN_ID) does not exist; create it (type aws: login = access key id, password = "
            'secret key, extra {"endpoint_url": ...} for a store other than AWS), or unset FOOTFALL_STAGING_URL'
        ]


@contextlib.contextmanager
def _metadata_db_connections():
    """Look Connections up in the metadata DB too, as Airflow's own CLI does, while checking.

    Outside a task, Airflow's SDK reads Connections from environment variables and external
    secrets backends only, unless the process declares itself a server process
    (``_AIRFLOW_PROCESS_CONTEXT=server``, as the scheduler and API server do): without it
    ``cli check`` would not see a Connection created with ``airflow connections add``.
    """
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None or "_AIRFLOW_PROCESS_CONTEXT" in os.environ:
        yield
        return
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    try:
        yield
    finally:
        del os.environ["_AIRFLOW_PROCESS_CONTEXT"]


def _check_bucket(settings: Settings) -> list[str]:
    conn_id = settings.storage_conn_id
    bucket = urlparse(settings.staging_url).hostname
    try:
        fs, root = _store(settings)
        fs.ls(root.split("/", 1)[0], refresh=True)
    except ImportError as exc:
        return [f"FOOTFALL_STAGING_URL is {settings.staging_url} but {exc}; install {SCHEMES[_scheme(settings)]}"]
    except Exception as exc:  # noqa: BLE001 (botocore and s3fs raise many kinds; all mean unreachable)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [
            f"FOOTFALL_STAGING_URL is {settings.staging_url} but bucket {bucket!r} cannot be listed with the "
            f"Connection {conn_id!r}: {reason}; check the bucket's name, the Connection's credentials and its "
            "extra endpoint_url"
        ]
    return []
