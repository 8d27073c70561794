"""The ingest DAG's Params: what one run reads, without editing the environment.

A data engineer backfilling old logs triggers ``footfall_ingest`` from the UI's trigger form or
with ``airflow dags trigger footfall_ingest --conf '{"log_globs": "/archive/access.log-2025*"}'``.
Each Param left empty keeps the environment's value:

- ``log_globs``: globs of the logs this run reads, separated by ``:``; replaces
  ``FOOTFALL_LOG_GLOB`` and ``FOOTFALL_LOG_SOURCES`` for the run.
- ``site``: the site of those logs (``FOOTFALL_SITE``).
- ``log_format``: their format (``FOOTFALL_LOG_FORMAT``: a log_format or a known name).
- ``files_from`` / ``files_to``: ISO dates (UTC, inclusive): only the files whose lines may fall
  in that range are read. A file's lines were written between the time of its first line and
  its last modification, so a file is read when that span overlaps the range. A file whose
  first line does not parse is read (its dates are unknown). A copy that lost its modification
  time (``cp`` without ``-p``) has a later one, so it is read rather than skipped.

The ingest tasks that read logs build their settings with :func:`run_settings`, so the whole
run (planning, parsing, the reject-rate check) uses the same overrides.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from warehouse.settings import ConfigError, Settings, task_settings

log = logging.getLogger(__name__)

# The trigger form of footfall_ingest: Param -> (title, description, JSON Schema format or None).
INGEST_PARAMS = {
    "log_globs": ("Log globs", "Logs to read, ':'-separated (default: FOOTFALL_LOG_GLOB, FOOTFALL_LOG_SOURCES)", None),
    "site": ("Site", "Site of those logs (default: FOOTFALL_SITE)", None),
    "log_format": ("Log format", "nginx log_format or a known name (default: FOOTFALL_LOG_FORMAT)", None),
    "files_from": ("Files from", "Read only files with lines on or after this UTC date", "date"),
    "files_to": ("Files to", "Read only files with lines on or before this UTC date", "date"),
}
# Param -> the environment variable it overrides for one run.
PARAM_VARIABLES = {"log_globs": "FOOTFALL_LOG_GLOB", "site": "FOOTFALL_SITE", "log_format": "FOOTFALL_LOG_FORMAT"}
DATE_PARAMS = ("files_from", "files_to")
# Decompressed bytes read to find the time of a file's first line.
_HEAD_BYTES = 64 * 1024


def _given(params: Mapping[str, object] | None, name: str) -> str | None:
    value = (params or {}).get(name)
    return str(value).strip() or None if value is not None else None


def run_environment(env: Mapping[str, str], params: Mapping[str, object] | None) -> dict[str, str]:
    """``env`` with the run's Params applied (see the module docstring)."""
    result = dict(env)
    for param, variable in PARAM_VARIABLES.items():
        value = _given(params, param)
        if value is not None:
            result[variable] = value
    if _given(params, "log_globs") is not None:
        result.pop("FOOTFALL_LOG_SOURCES", None)  # the run reads the given globs only
    return result


def file_range(params: Mapping[str, object] | None) -> tuple[dt.date | None, dt.date | None]:
    """``(files_from, files_to)`` as dates (``None`` when not given).

    Raises:
        ConfigError: a value is not an ISO date, or ``files_to`` is before ``files_from``.
    """
    dates = []
    for name in DATE_PARAMS:
        value = _given(params, name)
        try:
            dates.append(dt.date.fromisoformat(value) if value else None)
        except ValueError:
            raise ConfigError(f"Param {name}={value!r} is not a date; give YYYY-MM-DD") from None
    start, end = dates
    if start and end and end < start:
        raise ConfigError(f"Param files_to={end} is before files_from={start}")
    return start, end


def run_settings(params: Mapping[str, object] | None) -> Settings:
    """Settings of an ingest task: the environment with the run's Params applied (and the hash
    key from Airflow, :func:`warehouse.settings.task_settings`)."""
    return task_settings(run_environment(os.environ, params))


def overrides(params: Mapping[str, object] | None) -> dict[str, str]:
    """The Params a run was given (non-empty), for its log."""
    return {name: value for name in (*PARAM_VARIABLES, *DATE_PARAMS) if (value := _given(params, name))}


def first_line_time(path: Path, compressed: bool, settings: Settings) -> dt.datetime | None:
    """The UTC time of the earliest of a file's first lines that parse, or None."""
    from parsers.access_log import parse_lines
    from parsers.fast_path import as_utf8, lines_frame
    from warehouse.ingest.log_files import read_head

    head, _ = read_head(path, compressed, _HEAD_BYTES)
    head = head[: head.rfind(b"\n") + 1] or head
    events = parse_lines(lines_frame(as_utf8(head), 1).head(20), settings.log_format, user_field=None).events
    return events.get_column("ts").min() if events.height else None


def in_range(plans: Iterable, settings: Settings, start: dt.date | None, end: dt.date | None) -> list:
    """The plans (``warehouse.ingest.sources.SourcePlan``) of files whose lines may fall in ``start`` ..
    ``end`` (UTC dates, inclusive; ``None``: open); every plan when neither is given."""
    plans = list(plans)
    if start is None and end is None:
        return plans
    kept, skipped = [], []
    for plan in plans:
        last = dt.datetime.fromtimestamp(plan.mtime, dt.UTC).date()
        first = first_line_time(Path(plan.path), plan.compressed, settings)
        first_day = first.date() if first is not None else None
        overlaps = (end is None or first_day is None or first_day <= end) and (start is None or last >= start)
        (kept if overlaps else skipped).append(plan)
    if skipped:
        log.info(
            "%d file(s) outside files_from=%s .. files_to=%s left out of this run: %s",
            len(skipped), start, end, ", ".join(p.path for p in skipped),
        )  # fmt: skip
    return kept


def check_run(params: Mapping[str, object] | None, env: Mapping[str, str] | None = None) -> dict:
    """The ingest DAG's first task: warn about unknown ``FOOTFALL_*``/``VISIT_TRACKING_*``
    variables (:mod:`warehouse.environment`), check the Params, and log what the run overrides.

    Returns:
        ``{"unknown_variables": [names], "params": {given Params}}`` (for the run's XCom).

    Raises:
        ConfigError: a date Param is not a date or the range is reversed.
        ValueError: the Params make settings footfall cannot run with (e.g. a bad log format).
    """
    from warehouse.environment import describe_unknown, unknown_variables

    env = os.environ if env is None else env
    unknown = unknown_variables(env)
    if unknown:
        log.warning("unknown variables in the environment, ignored:\n%s", describe_unknown(unknown))
    file_range(params)
    Settings.from_env(run_environment(env, params))
    given = overrides(params)
    if given:
        log.info("this run's Params override the environment: %s", given)
    return {"unknown_variables": [name for name, _ in unknown], "params": given}
