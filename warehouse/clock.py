"""Time from the clock, not from the data.

A log line's time is whatever its writer put there: a server with a wrong clock, or anyone
who can get a line into the log, can date a request in 2099. Such a time must never decide
what footfall does next, so three decisions take the real clock instead:

* a line dated more than ``FOOTFALL_FUTURE_TOLERANCE_S`` (default a day) after the parse job
  reads it is quarantined as ``future_time`` (:func:`latest_event_time` is the limit the
  parsers are given);
* the report interval ``make run`` builds (``python -m warehouse.cli last-interval-end``) is
  the one holding the newest event, but never one that ends after the clock or after the last
  ingest run (:func:`report_interval_end`);
* a report sensor refuses at once an interval that ends more than the tolerance after the
  clock (:func:`check_interval_can_end`): no ingest run can cover it for a long time, and
  waiting hours for it would only hide the mistake.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from warehouse.settings import Settings


class IntervalInFuture(ValueError):
    """A data interval that ends too far after the clock to be waited for."""


def utcnow() -> dt.datetime:
    """The real time, as an aware UTC datetime: the one place the clock is read for these decisions."""
    return dt.datetime.now(dt.UTC)


def latest_event_time(now: dt.datetime, tolerance_s: int) -> dt.datetime:
    """The latest time a line read at ``now`` may carry: ``now`` plus ``tolerance_s`` seconds
    (``FOOTFALL_FUTURE_TOLERANCE_S``, for clocks that run a little ahead)."""
    return now + dt.timedelta(seconds=tolerance_s)


def _floor(moment: dt.datetime, step: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(moment.timestamp()) // step * step, dt.UTC)


def report_interval_end(con: duckdb.DuckDBPyConnection, settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """End of the report interval to build now: the ``VISIT_TRACKING_INTERVAL``-aligned interval
    holding the newest event, or, when that one has not ended by ``now`` or by the data interval
    end of the latest committed ingest run, the last interval that has.

    So the interval never ends after the clock (a line dated in the future cannot choose it) and
    the report sensor finds it ingested at once.

    Args:
        con: a connection that reads ``events`` and ``ingest_runs`` (the CLI's: the published
            snapshot, warehouse/snapshot.py).

    Returns:
        An aware UTC datetime, or None when the warehouse has no events.
    """
    (newest,) = con.execute("select max(ts) from events").fetchone()
    (through,) = con.execute("select max(data_interval_end) from ingest_runs").fetchone()
    if newest is None:
        return None
    step = settings.visit_tracking_interval
    holding_newest = _floor(newest, step) + dt.timedelta(seconds=step)
    return min(holding_newest, _floor(min(now, through) if through is not None else now, step))


def check_interval_can_end(end: dt.datetime, now: dt.datetime, tolerance_s: int) -> None:
    """Refuse a data interval ending more than ``tolerance_s`` seconds after ``now``.

    Raises:
        IntervalInFuture: the message names the interval end, the clock and what to do.
    """
    if end > latest_event_time(now, tolerance_s):
        when, clock = end.astimezone(dt.UTC).isoformat(), now.astimezone(dt.UTC).isoformat()
        raise IntervalInFuture(
            f"the data interval ends at {when}, more than FOOTFALL_FUTURE_TOLERANCE_S={tolerance_s} seconds after "
            f"the clock ({clock}): "
            "no ingest run covers it until then, so it is not waited for. Report an interval that has ended "
            "(python -m warehouse.cli last-interval-end prints the newest one)."
        )
