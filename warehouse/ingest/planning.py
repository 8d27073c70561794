"""Planning work units: each source's new bytes cut into byte ranges that parse tasks map over.

Ranges are at most ``map_chunk_bytes``, cut at line ends found by seeking, so that parsing can
be mapped over workers. Planning reads the log files (seeks, and counts the lines of units that
have a successor), never the warehouse.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from warehouse.ingest.log_files import SourceChanged, count_lines, line_boundaries
from warehouse.ingest.sources import SourcePlan, find_sources
from warehouse.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkUnit:
    """One byte range of one source, parsed by one (mapped) parse task.

    Offsets are bytes of decompressed content. ``end_offset`` is exclusive and always just
    after a newline; ``None`` means "to the end of the file", which only the last unit of a
    source has (it also reads an unterminated last line when ``plan.read_tail``).
    ``first_line`` is the number of lines of the source before ``start_offset``, so that line
    numbers are the same however the source is split.
    """

    plan: SourcePlan
    index: int  # 0-based position among the units of its source in this run
    start_offset: int
    end_offset: int | None
    first_line: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorkUnit:
        return cls(SourcePlan(**d["plan"]), d["index"], d["start_offset"], d["end_offset"], d["first_line"])


def plan_units(settings: Settings, plans: Iterable[SourcePlan], max_units: int | None = None) -> list[WorkUnit]:
    """Split the sources' new bytes into :class:`WorkUnit` byte ranges, at most ``max_units`` in all.

    A plain source's range from its start offset is cut every ``settings.map_chunk_bytes``
    at the next line end, found by seeking there and reading forward to a newline (a line
    longer than a unit makes that unit longer). A ``.gz`` source cannot be seeked: it is
    one unit. Every unit but the last of its source has its lines counted (read once at
    memory speed, no parsing), so each unit knows its first line number.

    Sources are taken newest first (by modification time), each with all its units, until
    ``max_units`` are planned: the live logs are read every run, a backlog of old files or
    the rest of a huge one is planned by the following runs. The units of a source are
    always a prefix of its range, so committing them leaves no gap.

    Args:
        plans: from :func:`find_sources`.
        max_units: cap on units (default ``settings.map_max_units``); Airflow's
            ``[core] max_map_length`` must not be exceeded.

    Returns:
        Units ordered by source (newest first), then by offset.

    A source that cannot be read or shrank since :func:`find_sources` is skipped (logged);
    the next run plans it again.
    """
    cap = settings.map_max_units if max_units is None else max_units
    if cap < 1:
        raise ValueError(f"max_units must be at least 1, not {cap}")
    units: list[WorkUnit] = []
    deferred: list[str] = []
    for plan in sorted(plans, key=lambda p: (-p.mtime, p.path)):
        budget = cap - len(units)
        if budget == 0:
            deferred.append(plan.path)
            continue
        try:
            cuts = [plan.start_offset]
            if not plan.compressed and not plan.not_text:
                cuts += line_boundaries(Path(plan.path), plan.start_offset, plan.file_size, settings.map_chunk_bytes)
            ends: list[int | None] = [*cuts[1:], None]
            if len(cuts) > budget:
                deferred.append(f"{plan.path} from byte {cuts[budget]:,}")
                cuts, ends = cuts[:budget], ends[:budget]
            source_units, first_line = [], plan.start_line
            for index, (start, end) in enumerate(zip(cuts, ends, strict=True)):
                source_units.append(WorkUnit(plan, index, start, end, first_line))
                if index + 1 < len(cuts):  # the next unit's first line number
                    first_line += count_lines(Path(plan.path), start, end)
        except (OSError, SourceChanged) as exc:
            # Removed or truncated since plan_sources looked: the next run plans it afresh.
            log.error("cannot plan %s (%s); skipped this run", plan.path, exc)
            continue
        units.extend(source_units)
    if deferred:
        log.warning(
            "%d work units planned (FOOTFALL_MAP_MAX_UNITS or [core] max_map_length: %d); left for the next "
            "run: %s", len(units), cap, "; ".join(deferred),
        )  # fmt: skip
    return units


def discover(settings: Settings, now: dt.datetime | None = None) -> list[WorkUnit]:
    """:func:`find_sources` then :func:`plan_units`: the work units of one ingest run."""
    return plan_units(settings, find_sources(settings, now))
