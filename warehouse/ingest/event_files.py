"""Buffered event-file writes: a parse task's staged Parquet files, per day, in bounded memory.

A work unit's events are buffered per day across chunks and written as large row groups into
the unit's staging folder (``staging/<run>/<source_id>-<start_offset>/``); quarantined lines go
to one file beside them. :meth:`StagedFiles.close` names each file's final place in the data dir,
which only the commit (:mod:`warehouse.ingest.commit`) moves it to.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA

# Events files: statistics only where queries filter (time, status, line), and dictionary
# encoding only for strings. The keyed hashes and line numbers are nearly all distinct: a
# dictionary for them is built, found too large and abandoned in every row group, which
# costs time and leaves the files larger.
EVENTS_WRITE_OPTIONS = {
    "write_statistics": ["ts", "status", "line_number"],
    "use_dictionary": [f.name for f in EVENTS_SCHEMA if f.type == pa.string()],
}


# Events are buffered per day across chunks and written as one row group per flush. A chunk
# of this kind of log spans several days, so writing each chunk's slice of a day made row
# groups of a few thousand rows: every column chunk then pays its fixed cost (dictionary page,
# compressor context, statistics) again, which doubled the time spent writing and left the
# files 1.6 times larger (51 against 32 MB for the 2M-line benchmark).
ROW_GROUP_ROWS = 128 * 1024
# Buffered slices keep their whole chunk's Arrow table alive, so the bound counts the bytes of
# every chunk still referenced, not only of the rows buffered.
EVENTS_BUFFER_BYTES = 128 * 1024 * 1024


class EventBuffers:
    """Per-day Arrow tables waiting to be written as one row group, in bounded memory.

    ``add`` takes one chunk's per-day slices; a day is written when it holds
    ``row_group_rows`` rows, and every day is written when the chunks referenced by the
    buffers reach ``max_bytes`` (and by ``flush_all`` at the end of a unit).
    """

    def __init__(self, write: Callable[[dt.date, pa.Table], None], row_group_rows: int, max_bytes: int) -> None:
        self._write = write
        self._row_group_rows = row_group_rows
        self._max_bytes = max_bytes
        self._days: dict[dt.date, list[pa.Table]] = {}
        self._rows: collections.Counter = collections.Counter()
        self._pinned_bytes = 0

    def add(self, by_day: dict[dt.date, pa.Table], chunk_bytes: int) -> None:
        """Buffer one chunk's slices per day; ``chunk_bytes`` is the size of the table they slice."""
        self._pinned_bytes += chunk_bytes
        for day, table in by_day.items():
            self._days.setdefault(day, []).append(table)
            self._rows[day] += table.num_rows
            if self._rows[day] >= self._row_group_rows:
                self._flush(day)
        if self._pinned_bytes >= self._max_bytes:
            self.flush_all()

    def flush_all(self) -> None:
        """Write every buffered day, then return Arrow's freed memory to the system."""
        for day in list(self._days):
            self._flush(day)
        self._pinned_bytes = 0
        # The buffered chunks were freed just now; the allocator (mimalloc) keeps freed pages
        # for reuse otherwise: a process parsing unit after unit stayed at 590-630 MiB
        # resident between units of 64 MiB instead of 510-560.
        pa.default_memory_pool().release_unused()

    def _flush(self, day: dt.date) -> None:
        self._write(day, pa.concat_tables(self._days.pop(day)))
        del self._rows[day]


def run_staging_dir(staging_dir: Path, run_id: str) -> Path:
    """The folder of one run's staged files (the run id made safe as a file name)."""
    return staging_dir / "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def final_name(source_id: str, start_offset: int, run_id: str) -> str:
    """The file name a unit's staged file is committed under (the same for every kind of file)."""
    # The unit's start offset keeps the files of a source's units apart; the run's digest
    # keeps a re-read from the same offset (a truncated source) from overwriting the
    # registered file it replaces before the replacement is committed.
    run = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{source_id}-{start_offset:015d}-{run}.parquet"


class StagedFiles:
    """The Parquet files of one work unit in its staging folder: per-day events, quarantined lines.

    The folder is emptied when opened (a retried task starts again). Events go through an
    :class:`EventBuffers` (:meth:`add_events`, :meth:`flush`); quarantined lines are written as
    they come (:meth:`write_quarantine`).
    """

    def __init__(self, data_dir: Path, stage: Path) -> None:
        self.data_dir = data_dir
        self.stage = stage
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
        self._writers: dict[object, tuple[pq.ParquetWriter, Path, list[int]]] = {}
        self._buffers = EventBuffers(self._write_events, ROW_GROUP_ROWS, EVENTS_BUFFER_BYTES)

    def _write(self, key, table: pa.Table, schema: pa.Schema, name: str) -> None:
        if key not in self._writers:
            staged = self.stage / name
            options = EVENTS_WRITE_OPTIONS if schema is EVENTS_SCHEMA else {}
            self._writers[key] = (pq.ParquetWriter(staged, schema, compression="zstd", **options), staged, [0])
        writer, _, rows = self._writers[key]
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        rows[0] += table.num_rows

    def _write_events(self, day: dt.date, table: pa.Table) -> None:
        self._write(("events", day), table, EVENTS_SCHEMA, f"events-{day.isoformat()}.parquet")

    def add_events(self, by_day: dict[dt.date, pa.Table], chunk_bytes: int) -> None:
        """Buffer one chunk's events, per day (see :meth:`EventBuffers.add`)."""
        self._buffers.add(by_day, chunk_bytes)

    def flush(self) -> None:
        """Write every buffered day."""
        self._buffers.flush_all()

    def write_quarantine(self, table: pa.Table) -> None:
        """Append quarantined lines (:data:`warehouse.schema.QUARANTINE_SCHEMA`)."""
        self._write(("quarantine",), table, QUARANTINE_SCHEMA, "quarantine.parquet")

    def close(self, source_id: str, start_offset: int, run_id: str, ingest_date: dt.date) -> list[dict]:
        """Close every file; returns one ``{kind, event_date, rows, staged, final}`` per file,
        paths relative to the data dir: events under ``events/event_date=<day>/``, quarantined
        lines under ``quarantine/ingest_date=<ingest_date>/``."""
        files = []
        name = final_name(source_id, start_offset, run_id)
        for key, (writer, staged, rows) in self._writers.items():
            writer.close()
            if key[0] == "events":
                day = key[1].isoformat()
                kind, event_date, final = "events", day, Path("events") / f"event_date={day}" / name
            else:
                kind, event_date = "quarantine", None
                final = Path("quarantine") / f"ingest_date={ingest_date.isoformat()}" / name
            files.append(
                {
                    "kind": kind,
                    "event_date": event_date,
                    "rows": rows[0],
                    "staged": str(staged.relative_to(self.data_dir)),
                    "final": str(final),
                }
            )
        return files
