"""Failpoints: named places where a test can kill the ingest process, to prove crash safety.

``failpoint("commit.after_rename")`` sends SIGKILL to the current process when the
environment variable ``FOOTFALL_FAILPOINT`` equals that name, and does nothing otherwise.
SIGKILL, not an exception: nothing runs after it (no ``except``/``finally``, no rollback,
no atexit), exactly like the OOM killer or a lost worker. tests/test_fault_injection.py
sets the variable in a child process, lets it die at the named point, runs the ingest
again and checks that the warehouse equals one clean run.

Names in use (see the call sites):

* ``parse.mid_chunks``: ``ingest.parse_job.parse_source``, after the first chunk was written to the
  staged Parquet, before the last.
* ``parse.after_write``: ``ingest.parse_job.parse_source``, staged files closed, before returning.
* ``staging.mid_upload``: ``staging.publish``, after each staged file of a unit was uploaded to
  object storage (the first upload of a unit stops there), before the next.
* ``commit.after_rename``: ``ingest.commit.commit``, files moved into place, before the COMMIT.
* ``commit.after_commit``: ``ingest.commit.commit``, after the COMMIT, before replaced files and
  the staging dir are removed.
* ``aggregate.mid_rebuild``: ``aggregation.rebuild_aggregates``, inside its transaction, after
  the first table of the first batch was rebuilt.
* ``retention.after_purge_commit``: ``retention.purge_raw``, files unregistered and the purge
  recorded (committed), before the files are deleted.
* ``retention.mid_rollup``: ``retention.roll_up``, inside its transaction, after the first
  monthly table was updated.
* ``retention.mid_purge_aggregates``: ``retention.purge_aggregates``, inside its transaction,
  after the first daily table's rows were deleted.

With ``FOOTFALL_FAILPOINT_ACTION=stop`` the process stops itself (SIGSTOP) instead: frozen at
that point, it lets a test kill a whole Celery worker host, every one of its processes at
once, while one of its tasks is exactly there (tests/cluster).

The variables are read from ``os.environ`` at the call, not from ``Settings``: this is a test
hook, not configuration, so it stays out of the settings object the DAG and the docs
describe, and a deployment can never set it by accident through an Airflow Variable. When
it is unset a call costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "FOOTFALL_FAILPOINT"
ACTION_VAR = "FOOTFALL_FAILPOINT_ACTION"


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL when ``FOOTFALL_FAILPOINT`` equals ``name`` (stop it with
    SIGSTOP when ``FOOTFALL_FAILPOINT_ACTION`` is ``stop``)."""
    if os.environ.get(ENV_VAR) == name:
        os.kill(os.getpid(), signal.SIGSTOP if os.environ.get(ACTION_VAR) == "stop" else signal.SIGKILL)
