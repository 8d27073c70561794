"""Progress of long parses: lines read, lines per second and the estimated time left.

A year of archives takes minutes to parse; without a sign of life an operator cannot tell a
slow run from a stuck one. :class:`ParseProgress` logs, per work unit, how far it has got to the
task log at most every :data:`LOG_INTERVAL_S` seconds (and once at the end), and hands every
update to the subscribers of this process (:func:`subscribe`): ``python -m warehouse.run`` (what
``make run`` runs) draws them as a progress line on a terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Seconds between two progress lines of one work unit in the task log.
LOG_INTERVAL_S = 5.0

_subscribers: list[Callable[[Progress], None]] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class Progress:
    """One update of a work unit's parse.

    Attributes:
        label: the unit, as people read it (``access.log``, or ``access.log part 2``).
        lines: lines read so far.
        lines_per_s: lines read per second since the unit started.
        fraction: share of the unit's bytes read, 0 to 1 (compressed bytes for a ``.gz``).
        seconds_left: estimated time left, or ``None`` before anything is known.
        done: the unit is finished.
    """

    label: str
    lines: int
    lines_per_s: float
    fraction: float
    seconds_left: float | None
    done: bool = False

    def describe(self) -> str:
        """``access.log: 1,234,567 lines read, 250,000 lines/s, 40% of the unit, about 8 s left``."""
        text = f"{self.label}: {self.lines:,} lines read, {self.lines_per_s:,.0f} lines/s"
        if self.done:
            return text + ", done"
        text += f", {self.fraction:.0%} of the unit"
        return text + (f", about {format_seconds(self.seconds_left)} left" if self.seconds_left is not None else "")


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def subscribe(callback: Callable[[Progress], None]) -> Callable[[], None]:
    """Call ``callback`` with every :class:`Progress` of this process; returns the unsubscribe function."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)

    return unsubscribe


class ParseProgress:
    """Reports one work unit's parse (see the module docstring).

    Args:
        label: the unit, for people.
        fraction: returns the share of the unit read so far (``ChunkReader.fraction``).
        clock: seconds, monotonic (tests pass their own).
        interval: seconds between two lines in the task log (default :data:`LOG_INTERVAL_S`).
    """

    def __init__(
        self,
        label: str,
        fraction: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        interval: float | None = None,
    ) -> None:
        self.label = label
        self._fraction = fraction
        self._clock = clock
        self._interval = LOG_INTERVAL_S if interval is None else interval
        self._start = clock()
        self._logged = self._start

    def _snapshot(self, lines: int, done: bool) -> Progress:
        elapsed = max(self._clock() - self._start, 1e-9)
        fraction = 1.0 if done else min(max(self._fraction(), 0.0), 1.0)
        left = elapsed * (1 - fraction) / fraction if 0 < fraction else None
        return Progress(self.label, lines, lines / elapsed, fraction, left, done)

    def update(self, lines: int) -> None:
        """``lines`` read so far: tell the subscribers, and log when the interval has passed."""
        progress = self._snapshot(lines, done=False)
        self._publish(progress)
        if self._clock() - self._logged >= self._interval:
            self._logged = self._clock()
            log.info("parse progress: %s", progress.describe())

    def finish(self, lines: int) -> None:
        """The unit is done: one last line in the log, and to the subscribers."""
        progress = self._snapshot(lines, done=True)
        self._publish(progress)
        log.info("parse progress: %s", progress.describe())

    @staticmethod
    def _publish(progress: Progress) -> None:
        with _lock:
            subscribers = list(_subscribers)
        for callback in subscribers:
            callback(progress)
