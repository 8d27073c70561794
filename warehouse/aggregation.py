"""The ingest's last step: load the dimensions, rebuild the aggregates of the changed days, publish.

Called by the ingest DAG's ``rebuild_aggregates`` (and ``commit_sources`` when a run commits
only part of its units), by retention's ``rebuild_pending`` and by ``cli rebuild``. The models,
their rebuild and the dimension loading live in :mod:`transforms.models`; this module opens the
warehouse and holds their transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb

from transforms.models import rebuild
from transforms.models.catalogue import ModelParams
from transforms.models.dimensions import load_dimensions
from transforms.privacy import KeyStore
from warehouse import snapshot, storage
from warehouse.failpoints import failpoint
from warehouse.settings import Settings


def aggregate(settings: Settings, days: list[str], published_by: str = "ingest") -> int:
    """Rebuild every aggregate table for the days touched by the given UTC partitions, then
    publish a snapshot (:func:`warehouse.snapshot.publish`) for readers.

    Args:
        days: ISO dates of UTC partitions that changed (from :func:`warehouse.ingest.commit.commit`). In
            another FOOTFALL_TIMEZONE a UTC date overlaps the local day before and after it, so
            those are rebuilt too.
        published_by: stored with the snapshot (``ingest``, or ``retention`` for ``rebuild_pending``).

    Returns:
        How many days were rebuilt.

    Raises:
        transforms.models.dimensions.DimensionError: a dimension file is invalid (nothing rebuilt).
    """
    con = storage.connect(settings.data_dir)
    try:
        # The community views join the dimensions at query time: a changed file applies to
        # every day kept without a rebuild. A bad file fails here, before any rebuild.
        with storage.transaction(con):
            load_dimensions(con, settings.dimensions_dir, KeyStore(settings.secrets_dir, settings.hash_key).hash_key())
        # Also the days of commits whose rebuild never finished (a killed run, table
        # aggregates_pending): a later run has nothing new to commit for them.
        pending = {r[0] for r in con.execute("select event_date from aggregates_pending").fetchall()}
        utc_days = {dt.date.fromisoformat(d) for d in days} | pending
        local_days = utc_days
        if settings.timezone != "UTC":
            local_days = {d + dt.timedelta(days=k) for d in utc_days for k in (-1, 0, 1)}
        rebuilt = rebuild_aggregates(con, local_days, settings.model_params, done=utc_days)
        snapshot.publish(con, settings, published_by)
        return rebuilt
    finally:
        con.close()


def rebuild_aggregates(
    con: duckdb.DuckDBPyConnection, days: Iterable[dt.date], params: ModelParams, done: Iterable[dt.date] = ()
) -> int:
    """:func:`transforms.models.rebuild.rebuild_aggregates` in one transaction: a crash or a
    failed model leaves every table as it was. Returns the number of days rebuilt."""
    try:
        with storage.transaction(con):
            return rebuild.rebuild_aggregates(con, days, params, done, after_model=_after_model)
    finally:
        rebuild.drop_scoped(con)


def _after_model() -> None:
    failpoint("aggregate.mid_rebuild")
