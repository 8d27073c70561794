"""The data interval of a DAG run triggered without a logical date.

Airflow 3 lets an operator trigger a run with no logical date: the UI's Trigger button leaves it
empty, ``airflow dags trigger footfall_ingest`` has no ``--logical-date``, the REST API takes
``"logical_date": null``. Such a run has no data interval: Airflow's task runner puts
``data_interval_start`` and ``data_interval_end`` into the context only beside a logical date
(``airflow.sdk.execution_time.task_runner``, ``get_template_context``), so a task that asks for
them gets ``None``. Every footfall DAG needs one, so each takes the meaning an operator expects
of "run it now":

- the ingest reads what the logs hold now: its interval ends at the run's ``run_after`` (the
  time it was triggered for); the ingest runs table and the quarantine partition record that;
- the visit-tracking report and the daily summaries cover the newest interval the warehouse has
  been completely read through (the latest ingest run's interval end), so they never wait for an
  ingest that is not coming;
- retention purges by the run's ``run_after``, as a scheduled run purges by its interval's end.

A run with a logical date (every scheduled run, a backfill, ``dag.test(logical_date=...)``)
keeps its own interval: nothing here changes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from warehouse.ingest import ingested_through
from warehouse.settings import Settings


class NothingIngested(RuntimeError):
    """A report run without a logical date, before any ingest run has committed."""


class _DagRun(Protocol):
    run_after: dt.datetime


def _utc(value: dt.datetime) -> dt.datetime:
    # Airflow hands pendulum DateTimes; the warehouse stores plain aware datetimes in UTC.
    return dt.datetime.fromtimestamp(value.timestamp(), dt.UTC)


def run_interval_end(data_interval_end: dt.datetime | None, dag_run: _DagRun) -> dt.datetime:
    """The end of the run's data interval, or its ``run_after`` when it has none (UTC, aware).

    Used by the ingest (the time it records having read through) and by retention (the clock
    it purges by).
    """
    return _utc(data_interval_end if data_interval_end is not None else dag_run.run_after)


def report_interval(
    settings: Settings,
    data_interval_start: dt.datetime | None,
    data_interval_end: dt.datetime | None,
    length: dt.timedelta,
) -> tuple[dt.datetime, dt.datetime]:
    """The ``[start, end)`` a report run covers (UTC, aware).

    The run's own data interval when it has one; otherwise the interval of ``length`` ending
    where the warehouse has been read through (:func:`warehouse.ingest.ingested_through`).

    Raises:
        NothingIngested: no data interval and no committed ingest run: the message says to run
            the ingest first or to give the run a logical date.
    """
    if data_interval_end is not None:
        start = data_interval_start if data_interval_start is not None else data_interval_end - length
        return _utc(start), _utc(data_interval_end)
    through = ingested_through(settings)
    if through is None:
        raise NothingIngested(
            "this run has no logical date, so it reports the newest interval the warehouse has read, "
            "and no ingest run has committed yet: trigger footfall_ingest first, or trigger this DAG "
            "with a logical date (the end of the interval to report)"
        )
    end = _utc(through)
    return end - length, end
