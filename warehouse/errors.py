"""Failures people can act on, said in one line: what went wrong and what to do.

The command line (``python -m warehouse.cli``) and ``python -m warehouse.run`` (``make run``)
print :func:`explain` of an exception instead of a traceback when it is one of these: a
misconfiguration, a missing or locked warehouse, a SQL statement DuckDB refuses, an export or
outbox request that does not apply. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# DuckDB: 'Could not set lock on file "...": Conflicting lock is held in /usr/bin/python3 (PID 123)'
_LOCK_RE = re.compile(r'lock on file "(?P<path>[^"]+)".*?held in (?P<program>\S+) \(PID (?P<pid>\d+)\)', re.S)


class CommandError(Exception):
    """A failure whose message is the one line to show; ``exit_code`` is the command's status."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Explanation:
    """One line for people, and the exit status of the command that failed (2: configuration)."""

    message: str
    exit_code: int


def sql_error(exc: Exception) -> str:
    """A DuckDB error as one line: its first line, plus DuckDB's hint ("Did you mean ...",
    "Candidate bindings ..."), without the caret drawing."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith("LINE ") and set(line) != {"^"}]
    return " ".join(kept)


def explain(exc: BaseException) -> Explanation | None:
    """The one-line explanation of ``exc``, or ``None`` when it is not a failure people can act on."""
    import duckdb

    from parsers.variables import LogFormatError
    from transforms.geoip import GeoIPConfigError
    from transforms.models.dimensions import DimensionError
    from transforms.routes import RoutesConfigError
    from warehouse.export import ExportError
    from warehouse.reporting.outbox import OutboxError
    from warehouse.settings import ConfigError

    if isinstance(exc, CommandError):
        return Explanation(str(exc), exc.exit_code)
    if isinstance(exc, ExportError):  # a request the view or the output path cannot take
        return Explanation(str(exc), 2)
    if isinstance(exc, OutboxError):
        return Explanation(str(exc), 1)
    if isinstance(exc, duckdb.IOException) and (lock := _LOCK_RE.search(str(exc))):
        return Explanation(
            f"the warehouse {lock['path']} is in use by another process (PID {lock['pid']}, {lock['program']}): "
            "DuckDB allows one writer, and no reader beside it; try again when it has finished "
            "(an Airflow task holds it while it runs)",
            1,
        )
    if isinstance(exc, FileNotFoundError) and ("no warehouse at" in str(exc) or "no snapshot at" in str(exc)):
        return Explanation(str(exc), 1)
    if isinstance(exc, ConfigError | LogFormatError | GeoIPConfigError | DimensionError | RoutesConfigError):
        return Explanation(f"configuration error: {exc}", 2)
    return None
