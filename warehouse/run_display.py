"""What ``python -m warehouse.run`` shows while it runs: one line per DAG run and per work unit.

On a terminal, ``rich`` draws them as live progress lines (the DAG and its running task, and per
work unit the lines read, lines/s and the time left); otherwise each is printed as a plain line
when it starts or ends, and unit progress at most every :data:`warehouse.progress.LOG_INTERVAL_S`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from warehouse.progress import LOG_INTERVAL_S, format_seconds
from warehouse.progress import Progress as UnitProgress


class Display:
    """Progress of the runs on ``out``; use as a context manager around them."""

    def __init__(self, out: TextIO) -> None:
        self.console = Console(file=out, highlight=False)
        self.live = self.console.is_terminal
        self._out = out
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            # Airflow's output goes to the log file (fd 1 and 2 point there), never through the display.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._dag: TaskID | None = None
        self._dag_id = ""
        self._when = ""
        self._units: dict[str, TaskID] = {}
        self._printed: dict[str, float] = {}

    def __enter__(self) -> Display:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self._progress.stop()

    def _say(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def dag_started(self, dag_id: str, logical_date: dt.datetime | None) -> None:
        """A DAG run starts (``logical_date``: the report interval's end, or None for now)."""
        self._dag_id = dag_id
        self._when = f"interval ending {logical_date:%Y-%m-%d %H:%M}Z: " if logical_date else ""
        if self.live:
            self._dag = self._progress.add_task(dag_id, total=None, detail=f"{self._when}starting")
        else:
            when = f" {logical_date.isoformat()}" if logical_date else ""
            self._say(f"{dag_id}{when}: running")

    def task_started(self, dag_id: str, task_id: str, map_index: int) -> None:
        """A task starts (called by Airflow's listener)."""
        label = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
        if self.live and self._dag is not None:
            self._progress.update(self._dag, detail=f"{self._when}{label}")

    def dag_finished(self, dag_id: str, state: str) -> None:
        if self.live and self._dag is not None:
            self._progress.update(self._dag, total=1, completed=1, detail=f"{self._when}{state}")
        else:
            self._say(f"{dag_id}: {state}")

    def parse_progress(self, update: UnitProgress) -> None:
        """A work unit's progress (warehouse.progress subscriber)."""
        detail = f"{update.lines:,} lines, {update.lines_per_s:,.0f} lines/s"
        if not update.done and update.seconds_left is not None:
            detail += f", about {format_seconds(update.seconds_left)} left"
        if self.live:
            unit = self._units.get(update.label)
            if unit is None:
                unit = self._units[update.label] = self._progress.add_task(
                    f"  parse {update.label}", total=1.0, detail=""
                )
            self._progress.update(unit, completed=1.0 if update.done else update.fraction, detail=detail)
            return
        now = time.monotonic()
        if update.done or now - self._printed.setdefault(update.label, now) >= LOG_INTERVAL_S:
            self._printed[update.label] = now
            self._say(f"  parse {update.label}: {detail}" + (", done" if update.done else f", {update.fraction:.0%}"))
