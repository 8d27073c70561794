"""Ingestion: find new log bytes, parse them into Parquet, commit them exactly once.

Four steps, each an Airflow task (dags/footfall_ingest.py):

1. :func:`find_sources` reads the manifest (``ingest_sources``) and plans, per source file, the
   byte offset to start from and the site it belongs to. A source is identified by a hash of
   its first bytes (decompressed), not by its name, so a renamed or gzipped copy of a file
   already read is not read again.
2. :func:`plan_units` splits each source's new bytes into :class:`WorkUnit` byte ranges of at
   most ``map_chunk_bytes``, cut at line ends found by seeking, so that parsing can be mapped
   over workers. It never opens the warehouse.
3. :func:`parse_source` parses one work unit in chunks of ``chunk_bytes``, pseudonymises each
   chunk column-wise, and writes Parquet into the staging dir. It never opens the warehouse,
   so many can run at once.
4. :func:`commit` moves staged files into place and, in one DuckDB transaction, registers
   them, advances the manifest over each source's contiguous parsed units and records data
   quality. A plan whose start offset no longer matches the manifest (another run got there
   first) is discarded.

:func:`discover` runs steps 1 and 2 in one call, for scripts and tests.
"""

from __future__ import annotations

import collections
import datetime as dt
import glob
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from parsers.coded import CodedEvents, code_column
from parsers.fast_path import Template, compile_template, parse_chunk
from transforms.enrich import UA_CACHE_SCHEMA, Enricher
from transforms.privacy import KeyStore, pseudonymise
from transforms.redaction import redact_quarantined_lines
from warehouse import clock, storage
from warehouse.aggregation import aggregate  # noqa: F401 (dags and tests call ingest.aggregate)
from warehouse.failpoints import failpoint
from warehouse.ingest_errors import IngestIncomplete, RejectRateExceeded, UnitsFailed  # noqa: F401 (public here)
from warehouse.log_files import (
    REASON_GZIP_TRUNCATED,
    REASON_NOT_TEXT,
    Chunk,
    ChunkReader,
    SourceChanged,
    count_lines,
    is_gzip,
    line_boundaries,
    not_text_reason,
    read_head,
)
from warehouse.progress import ParseProgress
from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA
from warehouse.settings import ConfigError, LogSource, Settings

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024
# A plain file's unterminated last line is read once its writer has been idle this long;
# before that it is probably a line still being written, left for the next run.
TAIL_GRACE = dt.timedelta(minutes=5)


def ua_cache_path(settings: Settings) -> str:
    """The cross-run cache of classified user agents, relative to the data dir.

    Keyed by user_agent_id; its name carries a digest of everything a classification depends
    on (the rule packages' versions and FOOTFALL_CRAWLER_PATTERNS), so changing any of them
    starts a fresh cache instead of serving stale answers.
    """
    from importlib.metadata import version

    rules = "|".join(
        [version(p) for p in ("ua-parser", "ua-parser-builtins", "user-agents", "crawlerdetect")]
        + [settings.crawler_patterns or ""]
    )
    return f"cache/user_agents-{hashlib.sha256(rules.encode()).hexdigest()[:12]}.parquet"


def make_enricher(settings: Settings, keys: KeyStore) -> Enricher:
    """The :class:`Enricher` a parse task uses, from settings.

    Raises:
        transforms.geoip.GeoIPConfigError: the GeoIP database is missing or unreadable.
    """
    return Enricher(
        keys.hash_key(),
        settings.data_dir / ua_cache_path(settings),
        geoip_database=settings.geoip_database,
        trusted_proxies=settings.trusted_proxies,
        site_hosts=settings.site_hosts,
        sensitive_params=settings.sensitive_params,
        crawler_patterns=settings.crawler_patterns,
        routes=settings.routes,
        redact_addresses=settings.redact_request_addresses,
    )


@dataclass(frozen=True)
class SourcePlan:
    """What to read from one source file (JSON-serialisable for XCom via :meth:`to_dict`)."""

    path: str
    source_id: str
    fingerprint: str  # hash of the first fingerprint_len bytes now (grows with a short file)
    fingerprint_len: int
    compressed: bool
    file_size: int
    start_offset: int
    start_line: int
    read_tail: bool = True  # read an unterminated last line (writer done with the file)
    site: str = "default"  # the site (vhost) of the glob that matched the file
    mtime: float = 0.0  # modification time when planned, seconds since the epoch
    not_text: str | None = None  # why the file is not a text log (log_files.not_text_reason), if it is not
    written_recently: bool = False  # modified within TAIL_GRACE: a truncated .gz may still be being written

    def to_dict(self) -> dict:
        return asdict(self)


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


def _fingerprint(head: bytes) -> str:
    """First 16 hex digits of SHA-256 over the first bytes of a decompressed log."""
    return hashlib.sha256(head).hexdigest()[:16]


def expand_globs(sources: Iterable[LogSource]) -> dict[Path, LogSource]:
    """Regular, non-empty files matching any configured glob, sorted, each with its source.

    Raises:
        ConfigError: one file matches globs of two different sites (the message names the
            file, both globs and both sites). A file matched by two globs of one site is fine.
    """
    found: dict[Path, LogSource] = {}
    for source in sources:
        for name in glob.glob(os.path.expanduser(source.glob)):
            p = Path(name).resolve()
            if not (p.is_file() and p.stat().st_size > 0):
                continue
            other = found.setdefault(p, source)
            if other.site != source.site:
                raise ConfigError(
                    f"{p} is matched by {other.glob!r} (site {other.site!r}) and by {source.glob!r} "
                    f"(site {source.site!r}); a log file belongs to one site: narrow one of the globs"
                )
    return dict(sorted(found.items()))


def find_sources(settings: Settings, now: dt.datetime | None = None) -> list[SourcePlan]:
    """Plan what to read: one :class:`SourcePlan` per source with possibly new content.

    A source is recognised by the hash of its first bytes (up to 1 KiB, decompressed),
    whatever its name: a renamed, rotated or gzipped copy continues from the committed
    offset of the source it copies. A plain file whose size equals the committed offset is
    skipped, and so is a ``.gz`` whose size equals the size it had when read. A plain file
    shorter than its committed offset was truncated and is read again from 0.

    Each plan carries the site of the glob that matched the file. When a source's site
    differs from the one it was last committed with (the operator relabelled a glob), its
    new lines get the new site; a warning says so.

    Args:
        now: the current time (default: the clock), to tell whether a plain file's
            unterminated last line is finished (its writer idle for :data:`TAIL_GRACE`).

    Raises:
        ConfigError: a file is matched by globs of two sites, or two files of different
            sites have the same content fingerprint (footfall could not tell which site a
            source belongs to).
    """
    now = now or dt.datetime.now(dt.UTC)
    paths = expand_globs(settings.log_sources)
    con = storage.connect(settings.data_dir)
    try:
        rows = con.execute(
            "select source_id, coalesce(fingerprint, source_id), fingerprint_len, committed_offset, committed_lines,"
            " file_size, site from ingest_sources"
        ).fetchall()
    finally:
        con.close()
    # A source first read while shorter than 1 KiB has a shorter fingerprint: look files up
    # under every fingerprint length in use, longest first.
    by_fingerprint = {(row[2], row[1]): row for row in rows}
    lengths = sorted({row[2] for row in rows}, reverse=True)

    plans: dict[str, SourcePlan] = {}
    # Plain files first: when a file and its gzipped copy are both present, read the plain one.
    for path in sorted(paths, key=lambda p: (is_gzip(p), str(p))):
        site = paths[path].site
        try:
            compressed = is_gzip(path)
            head, text = read_head(path, compressed, FINGERPRINT_BYTES)
        except OSError as exc:
            log.error("cannot read %s (%s); skipped this run", path, exc)
            continue
        fingerprint = _fingerprint(head)
        known = _match(head, by_fingerprint, lengths)
        stat = path.stat()
        source_id, offset, lines = fingerprint, 0, 0
        if known is not None:
            source_id, _, _, offset, lines, known_size, known_site = known
            if compressed and stat.st_size == known_size:
                continue  # a .gz is written once, at rotation: nothing new to decompress
            if not compressed and stat.st_size == offset:
                continue
            if not compressed and stat.st_size < offset:
                log.warning("%s is shorter than its committed offset: truncated, reading from 0", path)
                offset, lines = 0, 0
            if known_site is not None and known_site != site:
                log.warning(
                    "%s was read as site %r and is now matched as site %r: its new lines get %r "
                    "(reingest it to relabel the lines already read)", path, known_site, site, site,
                )  # fmt: skip
        idle = now.timestamp() - stat.st_mtime >= TAIL_GRACE.total_seconds()
        if source_id in plans:
            if plans[source_id].site != site:
                raise ConfigError(
                    f"{plans[source_id].path} (site {plans[source_id].site!r}) and {path} (site {site!r}) begin "
                    f"with the same {len(head)} bytes, so footfall takes them for one log and cannot tell which "
                    "site it belongs to; move the copy out of the other site's glob"
                )
            continue
        plans[source_id] = SourcePlan(
            str(path), source_id, fingerprint, len(head), compressed, stat.st_size, offset, lines,
            read_tail=compressed or idle, site=site, mtime=stat.st_mtime,
            not_text=not_text_reason(head) if text else None, written_recently=not idle,
        )  # fmt: skip
    return list(plans.values())


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


def _match(head: bytes, by_fingerprint: dict, lengths: list[int]) -> tuple | None:
    """The manifest row whose fingerprint the file's first bytes reproduce, longest first."""
    for n in lengths:
        key = (n, _fingerprint(head[:n]))
        if n <= len(head) and key in by_fingerprint:
            return by_fingerprint[key]
    return None


def mark_for_reingest(settings: Settings, path: Path) -> str | None:
    """Make the next ingest run read ``path`` again from its first byte.

    The source is found by content, as :func:`discover` does. Its committed offset is reset,
    so the next run parses the whole file and its commit replaces every file the source had
    contributed (and rebuilds their days): nothing is counted twice.

    Returns:
        The source id, or ``None`` when no committed source matches the file.
    """
    path = Path(path)
    head, _ = read_head(path, is_gzip(path), FINGERPRINT_BYTES)
    con = storage.connect(settings.data_dir)
    try:
        rows = con.execute(
            "select source_id, coalesce(fingerprint, source_id), fingerprint_len from ingest_sources"
        ).fetchall()
        row = _match(head, {(r[2], r[1]): r for r in rows}, sorted({r[2] for r in rows}, reverse=True))
        if row is None:
            return None
        con.execute(
            "update ingest_sources set committed_offset = 0, committed_lines = 0, file_size = -1 where source_id = ?",
            [row[0]],
        )
        return row[0]
    finally:
        con.close()


@dataclass
class _ChunkResult:
    events_by_day: dict[dt.date, pa.Table]
    events_bytes: int  # of the table the per-day slices share
    quarantine: pa.Table
    lines: int
    reasons: collections.Counter


def _process_chunk(
    chunk: Chunk, template: Template | None, keys: KeyStore, enricher: Enricher, settings: Settings, plan: SourcePlan,
    not_after: dt.datetime,
) -> _ChunkResult:  # fmt: skip
    fmt, fields = settings.log_format, {"user_field": settings.user_id_field, "session_field": settings.session_field}
    parsed = parse_chunk(chunk.data, chunk.first_line, fmt, template, **fields, not_after=not_after)
    # The site of the glob that matched the file: stored, and keyed into the visitor id.
    events = pseudonymise(
        enricher.apply(parsed.events), keys, plan.site, settings.timezone,
        redact_user_agent=settings.redact_request_addresses,
    )  # fmt: skip
    by_day: dict[dt.date, pa.Table] = {}
    table_bytes = 0
    if events.height:
        # One stable sort by day (rows of a day keep their order), one Arrow conversion and
        # cast, then zero-copy slices per day: cheaper than converting each day's partition.
        rows = events.rows.with_columns(
            pl.lit(0, pl.UInt32).alias(code_column("source")), pl.col("ts").dt.date().alias("_day")
        ).sort("_day", maintain_order=True)
        source = pl.DataFrame({"site": [plan.site], "source_id": [plan.source_id]})
        events = CodedEvents(rows, {**events.dims, "source": source})
        table = events.select(EVENTS_SCHEMA.names).to_arrow().cast(EVENTS_SCHEMA)
        table_bytes = table.nbytes
        start = 0
        for day, length in rows.get_column("_day").rle().struct.unnest().select("value", "len").iter_rows():
            by_day[day] = table.slice(start, length)
            start += length
    quarantine = parsed.quarantine.select(
        pl.lit(plan.source_id).alias("source_id"),
        pl.lit(plan.path).alias("source_path"),
        "line_number",
        "reason",
        redact_quarantined_lines(pl.col("line"), enricher.sensitive_params).alias("line"),
    )
    reasons = collections.Counter(dict(parsed.quarantine.get_column("reason").value_counts().iter_rows()))
    return _ChunkResult(by_day, table_bytes, quarantine.to_arrow().cast(QUARANTINE_SCHEMA), parsed.lines, reasons)


# Events files: statistics only where queries filter (time, status, line), and dictionary
# encoding only for strings. The keyed hashes and line numbers are nearly all distinct: a
# dictionary for them is built, found too large and abandoned in every row group, which
# costs time and leaves the files larger.
_EVENTS_WRITE_OPTIONS = {
    "write_statistics": ["ts", "status", "line_number"],
    "use_dictionary": [f.name for f in EVENTS_SCHEMA if f.type == pa.string()],
}


# Events are buffered per day across chunks and written as one row group per flush. A chunk
# of this kind of log spans several days, so writing each chunk's slice of a day made row
# groups of a few thousand rows: every column chunk then pays its fixed cost (dictionary page,
# compressor context, statistics) again, which doubled the time spent writing and left the
# files 1.6 times larger (51 against 32 MB for the 2M-line benchmark).
_ROW_GROUP_ROWS = 128 * 1024
# Buffered slices keep their whole chunk's Arrow table alive, so the bound counts the bytes of
# every chunk still referenced, not only of the rows buffered.
_EVENTS_BUFFER_BYTES = 128 * 1024 * 1024


class _EventBuffers:
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


def _final_name(unit: WorkUnit, run_id: str) -> str:
    # The unit's start offset keeps the files of a source's units apart; the run's digest
    # keeps a re-read from the same offset (a truncated source) from overwriting the
    # registered file it replaces before the replacement is committed.
    run = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{unit.plan.source_id}-{unit.start_offset:015d}-{run}.parquet"


def parse_source(
    settings: Settings, unit: WorkUnit, run_id: str, ingest_date: dt.date, now: dt.datetime | None = None
) -> dict:
    """Parse one work unit of a source into staged Parquet files.

    Reads the unit's byte range in chunks of ``settings.chunk_bytes``, ``parse_threads`` of
    them at once; writes ``staging/<run_id>/<source_id>-<start_offset>/`` only (a retry
    starts that folder again), never the warehouse.

    Args:
        settings: deployment settings (format, chunk size, threads, keys).
        unit: what to read, from :func:`plan_units`.
        run_id: the Airflow run id (names the staging folder and the run digest of file names).
        ingest_date: the run's date, the partition of quarantined lines.
        now: the time the lines are read (default: the clock): a line dated more than
            ``settings.future_tolerance_s`` after it is quarantined as ``future_time``.

    A file that is not text (``plan.not_text``) is not read: one quarantined entry (reason
    ``not_text``) stands for it and its offset goes to its end, so it is rejected once. A damaged
    ``.gz`` yields the lines before the damage plus one quarantined entry for the damage
    (``gzip_truncated`` or ``gzip_corrupt``, holding the incomplete line before it, redacted),
    unless it was modified within :data:`TAIL_GRACE` and ends early: then it is probably still
    being written, and ``reread`` asks the commit to plan it again. Progress is logged
    (:class:`warehouse.progress.ParseProgress`).

    Returns:
        A JSON-serialisable dict: ``unit`` (the unit as a dict), ``end_offset`` (offset after
        the last byte read), ``damaged`` (1 when one entry stands for damage or not-text, else
        0; counted in the line counts), ``reread`` (bool), ``lines_read``, ``lines_parsed``
        (lines with at least one event: a line of two records run together gives two),
        ``lines_quarantined``, ``reasons`` (reason -> lines), ``files``: list of {kind, staged,
        final, event_date, rows} (paths relative to the data dir), ``salts``: date -> salt fingerprint.

    Raises:
        SourceChanged: the file no longer has the planned bytes.
        transforms.geoip.GeoIPConfigError: the GeoIP database is missing or unreadable.
    """
    plan = unit.plan
    keys = KeyStore(settings.secrets_dir, settings.hash_key)
    enricher = make_enricher(settings, keys)
    template = compile_template(settings.log_format, settings.user_id_field, settings.session_field)
    not_after = clock.latest_event_time(now or clock.utcnow(), settings.future_tolerance_s)
    stage = settings.staging_dir / _safe(run_id) / f"{plan.source_id}-{unit.start_offset:015d}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    writers: dict[object, tuple[pq.ParquetWriter, Path, list[int]]] = {}

    def write(key, table: pa.Table, schema: pa.Schema, name: str) -> None:
        if key not in writers:
            staged = stage / name
            options = _EVENTS_WRITE_OPTIONS if schema is EVENTS_SCHEMA else {}
            writers[key] = (pq.ParquetWriter(staged, schema, compression="zstd", **options), staged, [0])
        writer, _, rows = writers[key]
        writer.write_table(table, row_group_size=_ROW_GROUP_ROWS)
        rows[0] += table.num_rows

    def write_events(day: dt.date, table: pa.Table) -> None:
        write(("events", day), table, EVENTS_SCHEMA, f"events-{day.isoformat()}.parquet")

    buffers = _EventBuffers(write_events, _ROW_GROUP_ROWS, _EVENTS_BUFFER_BYTES)

    totals = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    end_offset = unit.start_offset
    reader = ChunkReader(unit, settings.chunk_bytes)
    label = Path(plan.path).name + (f" part {unit.index + 1}" if unit.index or unit.end_offset is not None else "")
    progress = ParseProgress(label, reader.fraction)
    entry = None  # (reason, partial line) of one quarantined entry for the whole file: damaged or not text
    if plan.not_text:
        # Rejected once: committed as read to its end, with one entry saying why, never parsed.
        log.warning("%s is not parsed: %s", plan.path, plan.not_text)
        entry, end_offset = (REASON_NOT_TEXT, b""), unit.start_offset if plan.compressed else plan.file_size
    else:
        with ThreadPoolExecutor(max_workers=settings.parse_threads) as pool:
            pending: collections.deque = collections.deque()

            def drain_one() -> None:
                nonlocal end_offset
                future, after = pending.popleft()
                result: _ChunkResult = future.result()
                buffers.add(result.events_by_day, result.events_bytes)
                totals["parsed"] += result.lines - result.quarantine.num_rows
                if result.quarantine.num_rows:
                    write(("quarantine",), result.quarantine, QUARANTINE_SCHEMA, "quarantine.parquet")
                totals["read"] += result.lines
                totals["quarantined"] += result.quarantine.num_rows
                reasons.update(result.reasons)
                end_offset = after
                progress.update(totals["read"])
                failpoint("parse.mid_chunks")

            # At most parse_threads + 1 chunks in memory at once, whatever the file size.
            for chunk, after in reader:
                future = pool.submit(_process_chunk, chunk, template, keys, enricher, settings, plan, not_after)
                pending.append((future, after))
                if len(pending) > settings.parse_threads:
                    drain_one()
            while pending:
                drain_one()
        buffers.flush_all()
    reread = False
    if reader.damage is not None:
        if reader.damage.reason == REASON_GZIP_TRUNCATED and plan.written_recently:
            reread = True  # probably still being compressed: read on when its size changes
            log.warning("%s ends early but was modified within %s: left for a later run", plan.path, TAIL_GRACE)
        else:
            entry = (reader.damage.reason, reader.partial_line)
            log.warning(
                "%s is damaged, %s: its %d lines before the damage are kept, the damage is quarantined as %s",
                plan.path, reader.damage.detail, totals["read"], reader.damage.reason,
            )  # fmt: skip
    if entry is not None:
        table = _entry(plan, reader.next_line, *entry, enricher)
        write(("quarantine",), table, QUARANTINE_SCHEMA, "quarantine.parquet")
        reasons[entry[0]] += 1
        totals["read"] += 1
        totals["quarantined"] += 1
    progress.finish(totals["read"])

    files = []
    new_agents = enricher.new_user_agents()
    if new_agents.height:
        staged = stage / "user-agents.parquet"
        new_agents.write_parquet(staged)
        files.append(
            {
                "kind": "ua_cache",
                "event_date": None,
                "rows": new_agents.height,
                "staged": str(staged.relative_to(settings.data_dir)),
                "final": ua_cache_path(settings),
            }
        )
    for key, (writer, staged, rows) in writers.items():
        writer.close()
        if key[0] == "events":
            day = key[1]
            final = Path("events") / f"event_date={day.isoformat()}" / _final_name(unit, run_id)
            files.append(
                {
                    "kind": "events",
                    "event_date": day.isoformat(),
                    "rows": rows[0],
                    "staged": str(staged.relative_to(settings.data_dir)),
                    "final": str(final),
                }
            )
        else:
            final = Path("quarantine") / f"ingest_date={ingest_date.isoformat()}" / _final_name(unit, run_id)
            files.append(
                {
                    "kind": "quarantine",
                    "event_date": None,
                    "rows": rows[0],
                    "staged": str(staged.relative_to(settings.data_dir)),
                    "final": str(final),
                }
            )
    failpoint("parse.after_write")
    log.info(
        "parsed unit %d of source %s (%s, site %s, bytes %d-%d): %d lines read, %d parsed, %d quarantined",
        unit.index, plan.source_id, plan.path, plan.site, unit.start_offset, end_offset,
        totals["read"], totals["parsed"], totals["quarantined"],
    )  # fmt: skip
    return {
        "unit": unit.to_dict(),
        "end_offset": end_offset,
        "damaged": int(entry is not None),
        "reread": reread,
        "lines_read": totals["read"],
        "lines_parsed": totals["parsed"],
        "lines_quarantined": totals["quarantined"],
        "reasons": dict(reasons),
        "files": files,
        "salts": keys.salt_fingerprints(),  # the commit task checks that every host used the same
    }


def _entry(plan: SourcePlan, line_number: int, reason: str, partial: bytes, enricher: Enricher) -> pa.Table:
    """One quarantined entry standing for a whole file's damage or for a file that is not text,
    as a quarantine table: the incomplete last line before the damage, redacted, or nothing."""
    text = "" if reason == REASON_NOT_TEXT else partial.decode("utf-8", "backslashreplace")
    row = pl.DataFrame(
        {"source_id": [plan.source_id], "source_path": [plan.path], "line_number": [line_number], "reason": [reason]}
    ).with_columns(redact_quarantined_lines(pl.lit(text, pl.String), enricher.sensitive_params).alias("line"))
    return row.to_arrow().cast(QUARANTINE_SCHEMA)


def _safe(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


# Below this many lines a read is judged by the reject rate only when none of its lines
# parsed: 1 bad line out of 2 says little about the format, 2 bad lines out of 2 do.
MIN_LINES_FOR_RATE = 20


def exceeds_reject_rate(lines_read: int, lines_parsed: int, lines_quarantined: int, max_rate: float) -> bool:
    """Whether one read of a source quarantined too much to be committed (the format is probably wrong).

    True when more than ``max_rate`` (a fraction, FOOTFALL_MAX_REJECT_RATE) of ``lines_read``
    were quarantined and the read either has at least :data:`MIN_LINES_FOR_RATE` lines or
    parsed none at all. So a small read with some good lines is always committed, a small read
    with no good line is not, and ``max_rate = 1`` never rejects anything.
    """
    if lines_read == 0 or lines_quarantined <= max_rate * lines_read:
        return False
    return lines_read >= MIN_LINES_FOR_RATE or lines_parsed == 0


def _commit_rejected(con, settings: Settings, plan: SourcePlan, result: dict, run_id: str, now) -> set[str]:
    """Register a rejected read's quarantined lines (kind ``rejected``) and its data_quality
    row, and nothing else: no events, no manifest change. Returns the files it replaces.

    An earlier rejected read of the same source and start offset is replaced by this one: a
    format left wrong for days keeps one copy of the evidence, not one per run. (Its lines
    beyond this read, if a unit failed this time, are read again by a later run anyway.)
    """
    old = {
        path
        for (path,) in con.execute(
            "select f.path from ingest_files f join data_quality d using (run_id, source_id)"
            " where f.kind = 'rejected' and f.source_id = ? and d.start_offset = ?",
            [plan.source_id, plan.start_offset],
        ).fetchall()
    }
    for path in old:
        con.execute("delete from ingest_files where path = ?", [path])
    # Events and user agents of a rejected read are dropped with the staging dir.
    quarantined = [f for f in result["files"] if f["kind"] == "quarantine"]
    _install(con, settings.data_dir, quarantined, "rejected", plan.source_id, run_id, now)
    old -= {f["final"] for f in quarantined}
    con.execute(
        "insert or replace into data_quality (run_id, source_id, source_path, start_offset, end_offset, lines_read,"
        " lines_parsed, lines_quarantined, quarantine_reasons, committed_at, rejected)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true)",
        [
            run_id, plan.source_id, plan.path, plan.start_offset, result["end_offset"], result["lines_read"],
            result["lines_parsed"], result["lines_quarantined"], result["reasons"], now,
        ],
    )  # fmt: skip
    return old


def _contiguous_reads(
    results: Iterable[dict], planned: Iterable[dict] | None
) -> tuple[list[tuple[SourcePlan, list[dict]]], list[WorkUnit]]:
    """Per source, the parse results of its contiguous units from its start offset, and the
    planned units that have no result (failed).

    A source's chain stops at its first planned unit without a result, or whose result does
    not start where the previous one ended; results after that point are discarded (the next
    run plans those bytes again). With ``planned`` None, the units of ``results`` are taken
    as the plan, so no unit can be missing.
    """
    by_unit = {(r["unit"]["plan"]["source_id"], r["unit"]["start_offset"]): r for r in results}
    units = [WorkUnit.from_dict(u) for u in planned] if planned is not None else [
        WorkUnit.from_dict(r["unit"]) for r in by_unit.values()
    ]  # fmt: skip
    sources: dict[str, list[WorkUnit]] = {}
    for unit in units:
        sources.setdefault(unit.plan.source_id, []).append(unit)
    reads: list[tuple[SourcePlan, list[dict]]] = []
    failed: list[WorkUnit] = []
    for source_units in sources.values():
        source_units.sort(key=lambda u: u.start_offset)
        chain: list[dict] = []
        for unit in source_units:
            result = by_unit.get((unit.plan.source_id, unit.start_offset))
            if result is None or (chain and chain[-1]["end_offset"] != unit.start_offset):
                failed.append(unit)
                discarded = [u.index for u in source_units if u.start_offset > unit.start_offset]
                if discarded:
                    log.warning("%s: units %s discarded after unit %d; the next run plans them again",
                                unit.plan.path, discarded, unit.index)  # fmt: skip
                break
            chain.append(result)
        if chain:
            reads.append((source_units[0].plan, chain))
    return reads, failed


def _merge_reads(chain: list[dict]) -> dict:
    """One source's contiguous unit results as one read: summed counts, all files, last end."""
    reasons: collections.Counter = collections.Counter()
    for r in chain:
        reasons.update(r["reasons"])
    return {
        "end_offset": chain[-1]["end_offset"],
        "reread": any(r.get("reread") for r in chain),
        **{k: sum(r.get(k, 0) for r in chain) for k in ("lines_read", "lines_parsed", "lines_quarantined", "damaged")},
        "reasons": dict(reasons),
        "files": [f for r in chain for f in r["files"]],
    }


def commit(
    settings: Settings,
    results: Iterable[dict],
    run_id: str,
    data_interval_end: dt.datetime | None = None,
    planned: Iterable[dict] | None = None,
) -> dict:
    """Move staged files into place and register them, exactly once per byte range.

    Results are grouped by source: a source's read is its contiguous parsed units from its
    planned start offset (see :func:`_contiguous_reads`); a unit that did not parse ends the
    read before it, and the source's later units are discarded, so the offset never skips
    bytes and no byte is counted twice. For each read whose plan still matches the manifest
    (same committed offset), in one transaction: register its files in ``ingest_files``,
    advance ``ingest_sources`` and insert one ``data_quality`` row (per source and run,
    summed over its units); then record the run in ``ingest_runs`` (also when ``results``
    is empty) and refresh the views. Files are renamed into place before the transaction:
    their names are deterministic (source id + unit start offset + run digest), so a crash in
    between leaves unregistered files that the views ignore and the retry overwrites. A
    source read again from offset 0 replaces its earlier files, which are deleted after.

    A read that :func:`exceeds_reject_rate` (``settings.max_reject_rate``, judged over all
    the units of the source's read, so the verdict does not depend on how the source was
    split) commits only its quarantined lines and its ``data_quality`` row (``rejected``);
    its events are dropped and its offset stays, so the same bytes are read again once the
    format is fixed. The other sources commit as usual, but the run is not recorded in
    ``ingest_runs`` when a read was rejected or a unit failed (reports wait rather than miss
    those lines).

    Args:
        results: :func:`parse_source` results, one per unit that parsed, in any order.
        planned: every unit planned for the run (:meth:`WorkUnit.to_dict`); a unit without a
            result failed. None (scripts that raise on any failure): the results are the plan.

    Returns:
        ``{"days": [ISO dates to rebuild], "sources": n committed, "skipped": n stale,
        "lines_read", "lines_parsed", "lines_quarantined"}``.

    Raises:
        RejectRateExceeded: after the commit, when any read was rejected (also lists failed units).
        UnitsFailed: after the commit, when a planned unit has no result and no read was rejected.
        Both carry the dict above as ``committed``.
    """
    reads, failed_units = _contiguous_reads(results, planned)
    con = storage.connect(settings.data_dir)
    now = dt.datetime.now(dt.UTC)
    days: set[str] = set()
    replaced: set[str] = set()
    summary = collections.Counter()
    rejected: list[dict] = []
    try:
        with storage.transaction(con):
            for plan, chain in reads:
                result = _merge_reads(chain)
                row = con.execute(
                    "select committed_offset from ingest_sources where source_id = ?", [plan.source_id]
                ).fetchone()
                current = row[0] if row else 0
                if current != plan.start_offset and plan.start_offset != 0:
                    log.warning(
                        "source %s moved on to offset %d since it was planned at %d; discarding this parse",
                        plan.source_id, current, plan.start_offset,
                    )  # fmt: skip
                    summary["skipped"] += 1
                    continue
                counts = (result["lines_read"], result["lines_parsed"], result["lines_quarantined"])
                # An entry standing for a damaged or binary file says nothing about the format.
                lines = (counts[0] - result["damaged"], counts[1], counts[2] - result["damaged"])
                if exceeds_reject_rate(*lines, settings.max_reject_rate):
                    replaced |= _commit_rejected(con, settings, plan, result, run_id, now)
                    rejected.append(
                        {k: result[k] for k in ("end_offset", "lines_read", "lines_quarantined", "reasons")}
                        | {"path": plan.path, "source_id": plan.source_id, "start_offset": plan.start_offset}
                        | {"rate": counts[2] / counts[0]}
                    )
                    continue
                if plan.start_offset == 0:
                    # Read from the start (new or truncated source): its earlier files go, except
                    # the evidence of rejected reads (never counted, so never double counted).
                    for path, event_date in con.execute(
                        "select path, event_date from ingest_files where source_id = ? and kind <> 'rejected'",
                        [plan.source_id],
                    ).fetchall():
                        replaced.add(path)
                        if event_date is not None:
                            days.add(event_date.isoformat())
                    con.execute("delete from ingest_files where source_id = ? and kind <> 'rejected'", [plan.source_id])
                installed = []
                for f in result["files"]:
                    if f["kind"] == "ua_cache":
                        _merge_ua_cache(settings.data_dir / f["final"], settings.data_dir / f["staged"])
                        continue
                    installed.append(f)
                    replaced.discard(f["final"])
                    if f["event_date"]:
                        days.add(f["event_date"])
                _install(con, settings.data_dir, installed, None, plan.source_id, run_id, now)
                con.execute(
                    """
                    insert into ingest_sources (source_id, fingerprint, path, fingerprint_len, compressed, file_size,
                        committed_offset, committed_lines, first_ingested_at, last_ingested_at, site)
                    values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    on conflict (source_id) do update set
                        fingerprint = excluded.fingerprint, fingerprint_len = excluded.fingerprint_len,
                        path = excluded.path, compressed = excluded.compressed, file_size = excluded.file_size,
                        committed_offset = excluded.committed_offset, committed_lines = excluded.committed_lines,
                        last_ingested_at = excluded.last_ingested_at, site = excluded.site
                    """,
                    [
                        plan.source_id, plan.fingerprint, plan.path, plan.fingerprint_len, plan.compressed,
                        -1 if result["reread"] else plan.file_size, result["end_offset"],
                        plan.start_line + result["lines_read"] - result["damaged"], now, now, plan.site,
                    ],
                )  # fmt: skip
                if result["lines_read"]:
                    con.execute(
                        "insert or replace into data_quality (run_id, source_id, source_path, start_offset, end_offset,"
                        " lines_read, lines_parsed, lines_quarantined, quarantine_reasons, committed_at, rejected)"
                        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
                        [
                            run_id, plan.source_id, plan.path, plan.start_offset, result["end_offset"],
                            result["lines_read"], result["lines_parsed"], result["lines_quarantined"],
                            result["reasons"], now,
                        ],
                    )  # fmt: skip
                summary["sources"] += 1
                for k in ("lines_read", "lines_parsed", "lines_quarantined"):
                    summary[k] += result[k]
            # A run with a rejected read or a failed unit has not ingested its interval.
            if not rejected and not failed_units:
                con.execute(
                    "insert or replace into ingest_runs values (?, ?, ?, ?, ?)",
                    [run_id, data_interval_end, summary["sources"], summary["lines_read"], now],
                )
            con.execute("insert or ignore into aggregates_pending select unnest(cast(? as date[]))", [sorted(days)])
            # Replaced files are deleted once no published snapshot reads them (warehouse/snapshot.py).
            con.execute("insert or ignore into retention_unlink_queue select unnest(?::text[]), ?", [[*replaced], now])
            storage.refresh_views(con, settings.data_dir)
            failed = [_failed_unit(con, unit) for unit in failed_units]
            failpoint("commit.after_rename")
    finally:
        con.close()
    failpoint("commit.after_commit")
    shutil.rmtree(settings.staging_dir / _safe(run_id), ignore_errors=True)
    keys = ("sources", "skipped", "lines_read", "lines_parsed", "lines_quarantined")
    committed = {"days": sorted(days), **{k: summary[k] for k in keys}}
    if rejected:
        for r in rejected:
            log.error("rejected %s: %.1f%% of %d lines quarantined", r["path"], 100 * r["rate"], r["lines_read"])
        raise RejectRateExceeded(rejected, committed, settings.max_reject_rate, settings.log_format.text, failed)
    if failed:
        raise UnitsFailed("", committed, failed)
    return committed


def _failed_unit(con, unit: WorkUnit) -> dict:
    """A failed unit for :class:`IngestIncomplete`, with where its source's offset now stands."""
    row = con.execute("select committed_offset from ingest_sources where source_id = ?", [unit.plan.source_id])
    committed_offset = (row.fetchone() or (0,))[0]
    return {
        "path": unit.plan.path, "source_id": unit.plan.source_id, "index": unit.index,
        "start_offset": unit.start_offset, "end_offset": unit.end_offset, "committed_offset": committed_offset,
    }  # fmt: skip


def _install(
    con, data_dir: Path, files: list[dict], kind: str | None, source_id: str, run_id: str, now: dt.datetime
) -> None:
    """Move staged files to their final names and register them in ``ingest_files`` (caller's transaction).

    ``kind`` is what they are registered as (``None``: each file's own ``kind``). One insert
    for all of them: a statement per file cost ~3 ms, a third of a commit of a few hundred files.
    """
    if not files:
        return
    for f in files:
        final, staged = data_dir / f["final"], data_dir / f["staged"]
        final.parent.mkdir(parents=True, exist_ok=True)
        # A retry after a failed transaction finds the file already moved: keep it.
        if staged.exists() or not final.exists():
            os.replace(staged, final)
    rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(files))
    params = [
        v for f in files for v in (f["final"], kind or f["kind"], source_id, f["event_date"], f["rows"], run_id, now)
    ]
    con.execute(f"insert or replace into ingest_files values {rows}", params)


def _merge_ua_cache(target: Path, staged: Path) -> None:
    """Add newly classified user agents to the cross-run cache (atomic replace)."""
    frames = [pl.read_parquet(staged)]
    if target.exists():
        frames.insert(0, pl.read_parquet(target))
    merged = pl.concat(frames).unique("user_agent_id", keep="first").cast(UA_CACHE_SCHEMA)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    merged.write_parquet(tmp)
    os.replace(tmp, target)


def ingested_through(settings: Settings) -> dt.datetime | None:
    """The latest data-interval end of a committed ingest run, or None before the first."""
    con = storage.connect(settings.data_dir)
    try:
        return con.execute("select max(data_interval_end) from ingest_runs").fetchone()[0]
    finally:
        con.close()


def purge_salts(settings: Settings, now: dt.datetime) -> list[str]:
    """Delete daily salts older than ``salt_max_age_h`` hours at ``now``; returns their days."""
    keys = KeyStore(settings.secrets_dir, settings.hash_key)
    return keys.purge_salts(now, dt.timedelta(hours=settings.salt_max_age_h))
