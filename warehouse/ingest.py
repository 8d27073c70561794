"""Ingestion: find new log bytes, parse them into Parquet, commit them exactly once.

Three steps, each an Airflow task (dags/footfall_ingest.py):

1. :func:`discover` reads the manifest (``ingest_sources``) and plans, per source file, the
   byte offset to start from. A source is identified by a hash of its first bytes
   (decompressed), not by its name, so a renamed or gzipped copy of a file already read
   is not read again.
2. :func:`parse_source` streams one source in chunks of ``chunk_bytes``, parses and
   pseudonymises each chunk column-wise, and writes Parquet into the staging dir. It never
   opens the warehouse, so many can run at once.
3. :func:`commit` moves staged files into place and, in one DuckDB transaction, registers
   them, advances the manifest and records data quality. A plan whose start offset no
   longer matches the manifest (another run got there first) is discarded.
"""

from __future__ import annotations

import collections
import datetime as dt
import glob
import gzip
import hashlib
import io
import logging
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from parsers.access_log import parse_lines
from parsers.log_format import LogFormat
from transforms.enrich import UA_CACHE_SCHEMA, Enricher
from transforms.privacy import KeyStore, pseudonymise, redact_addresses, redact_param_values
from warehouse import storage
from warehouse.dimensions import load_dimensions
from warehouse.failpoints import failpoint
from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA
from warehouse.settings import Settings

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
    )


_GZIP_MAGIC = b"\x1f\x8b"


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

    def to_dict(self) -> dict:
        return asdict(self)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open_text_bytes(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _fingerprint(head: bytes) -> str:
    """First 16 hex digits of SHA-256 over the first bytes of a decompressed log."""
    return hashlib.sha256(head).hexdigest()[:16]


def expand_globs(globs: tuple[str, ...]) -> list[Path]:
    """Regular, non-empty files matching any glob, sorted, without duplicates."""
    found: set[Path] = set()
    for pattern in globs:
        for name in glob.glob(os.path.expanduser(pattern)):
            p = Path(name).resolve()
            if p.is_file() and p.stat().st_size > 0:
                found.add(p)
    return sorted(found)


def discover(settings: Settings, now: dt.datetime | None = None) -> list[SourcePlan]:
    """Plan what to read: one :class:`SourcePlan` per source with possibly new content.

    A source is recognised by the hash of its first bytes (up to 1 KiB, decompressed),
    whatever its name: a renamed, rotated or gzipped copy continues from the committed
    offset of the source it copies. A plain file whose size equals the committed offset is
    skipped, and so is a ``.gz`` whose size equals the size it had when read. A plain file
    shorter than its committed offset was truncated and is read again from 0.

    Args:
        now: the current time (default: the clock), to tell whether a plain file's
            unterminated last line is finished (its writer idle for :data:`TAIL_GRACE`).
    """
    now = now or dt.datetime.now(dt.UTC)
    paths = expand_globs(settings.log_globs)
    con = storage.connect(settings.data_dir)
    try:
        rows = con.execute(
            "select source_id, coalesce(fingerprint, source_id), fingerprint_len, committed_offset, committed_lines,"
            " file_size from ingest_sources"
        ).fetchall()
    finally:
        con.close()
    # A source first read while shorter than 1 KiB has a shorter fingerprint: look files up
    # under every fingerprint length in use, longest first.
    by_fingerprint = {(row[2], row[1]): row for row in rows}
    lengths = sorted({row[2] for row in rows}, reverse=True)

    plans: dict[str, SourcePlan] = {}
    # Plain files first: when a file and its gzipped copy are both present, read the plain one.
    for path in sorted(paths, key=lambda p: (_is_gzip(p), str(p))):
        try:
            compressed = _is_gzip(path)
            with _open_text_bytes(path, compressed) as f:
                head = f.read(FINGERPRINT_BYTES)
        except (OSError, EOFError) as exc:
            log.error("cannot read %s (%s); skipped this run", path, exc)
            continue
        fingerprint = _fingerprint(head)
        known = _match(head, by_fingerprint, lengths)
        stat = path.stat()
        source_id, offset, lines = fingerprint, 0, 0
        if known is not None:
            source_id, _, _, offset, lines, known_size = known
            if compressed and stat.st_size == known_size:
                continue  # a .gz is written once, at rotation: nothing new to decompress
            if not compressed and stat.st_size == offset:
                continue
            if not compressed and stat.st_size < offset:
                log.warning("%s is shorter than its committed offset: truncated, reading from 0", path)
                offset, lines = 0, 0
        idle = now.timestamp() - stat.st_mtime >= TAIL_GRACE.total_seconds()
        if source_id not in plans:
            plans[source_id] = SourcePlan(
                str(path), source_id, fingerprint, len(head), compressed, stat.st_size, offset, lines,
                read_tail=compressed or idle,
            )  # fmt: skip
    return list(plans.values())


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
    with _open_text_bytes(path, _is_gzip(path)) as f:
        head = f.read(FINGERPRINT_BYTES)
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
class _Chunk:
    data: bytes
    first_line: int


def _read_chunks(plan: SourcePlan, chunk_bytes: int) -> Iterator[tuple[_Chunk, int]]:
    """Yield (chunk of whole lines, offset after it), starting at the plan's offset.

    A last line without a newline is yielded only when ``plan.read_tail``: a ``.gz`` is
    complete, and a plain file whose writer has been idle for :data:`TAIL_GRACE` will not
    finish the line; otherwise it is left for the next run (the offset stops before it).
    """
    path = Path(plan.path)
    offset, line = plan.start_offset, plan.start_line + 1
    with _open_text_bytes(path, plan.compressed) as f:
        if plan.compressed:
            remaining = plan.start_offset
            while remaining:
                skipped = len(f.read(min(remaining, chunk_bytes)))
                if not skipped:
                    return
                remaining -= skipped
        else:
            f.seek(plan.start_offset)
        carry = b""
        while True:
            block = f.read(chunk_bytes)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            carry = data[cut:]
            offset += cut
            yield _Chunk(data[:cut], line), offset
            line += data.count(b"\n", 0, cut)
        if carry and plan.read_tail:
            offset += len(carry)
            yield _Chunk(carry, line), offset


def _lines_frame(chunk: _Chunk) -> pl.DataFrame:
    try:
        frame = pl.read_lines(io.BytesIO(chunk.data), row_index_name="line_number", row_index_offset=chunk.first_line)
    except pl.exceptions.ComputeError:
        # Not valid UTF-8: keep undecodable bytes as \xXX text, nginx's own escaping.
        text = chunk.data.decode("utf-8", "backslashreplace").encode("utf-8")
        frame = pl.read_lines(io.BytesIO(text), row_index_name="line_number", row_index_offset=chunk.first_line)
    return frame.with_columns(pl.col("line_number").cast(pl.Int64))


@dataclass
class _ChunkResult:
    events_by_day: dict[dt.date, pa.Table]
    quarantine: pa.Table
    lines: int
    reasons: collections.Counter


def _process_chunk(
    chunk: _Chunk, fmt: LogFormat, keys: KeyStore, enricher: Enricher, settings: Settings, plan: SourcePlan
) -> _ChunkResult:
    lines = _lines_frame(chunk)
    parsed = parse_lines(lines, fmt, user_field=settings.user_id_field, session_field=settings.session_field)
    enriched = enricher.apply(parsed.events)
    events = pseudonymise(enriched, keys, settings.site, settings.timezone).with_columns(
        pl.lit(settings.site).alias("site"), pl.lit(plan.source_id).alias("source_id")
    )
    by_day: dict[dt.date, pa.Table] = {}
    if events.height:
        events = events.with_columns(pl.col("ts").dt.date().alias("_day"))
        for (day,), part in events.partition_by("_day", as_dict=True).items():
            by_day[day] = part.drop("_day").select(EVENTS_SCHEMA.names).to_arrow().cast(EVENTS_SCHEMA)
    quarantine = parsed.quarantine.select(
        pl.lit(plan.source_id).alias("source_id"),
        pl.lit(plan.path).alias("source_path"),
        "line_number",
        "reason",
        redact_param_values(redact_addresses(pl.col("line")), enricher.sensitive_params).alias("line"),
    )
    reasons = collections.Counter(dict(parsed.quarantine.get_column("reason").value_counts().iter_rows()))
    return _ChunkResult(by_day, quarantine.to_arrow().cast(QUARANTINE_SCHEMA), lines.height, reasons)


def _final_name(plan: SourcePlan, run_id: str) -> str:
    # The run's digest keeps a re-read from the same offset (a truncated source) from
    # overwriting the registered file it replaces before the replacement is committed.
    run = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{plan.source_id}-{plan.start_offset:015d}-{run}.parquet"


def parse_source(settings: Settings, plan: SourcePlan, run_id: str, ingest_date: dt.date) -> dict:
    """Parse one source from its planned offset into staged Parquet files.

    Args:
        settings: deployment settings (format, chunk size, threads, keys).
        plan: what to read, from :func:`discover`.
        run_id: the Airflow run id (names the staging folder).
        ingest_date: the run's date, the partition of quarantined lines.

    Returns:
        A JSON-serialisable dict: ``plan`` (the plan as a dict), ``end_offset``,
        ``lines_read``, ``lines_parsed``, ``lines_quarantined``, ``reasons`` (reason -> lines)
        and ``files``: list of {kind, staged, final, event_date, rows} with paths relative
        to the data dir.
    """
    keys = KeyStore(settings.secrets_dir, settings.hash_key)
    enricher = make_enricher(settings, keys)
    stage = settings.staging_dir / _safe(run_id) / plan.source_id
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    writers: dict[object, tuple[pq.ParquetWriter, Path, list[int]]] = {}

    def write(key, table: pa.Table, schema: pa.Schema, name: str) -> None:
        if key not in writers:
            staged = stage / name
            stats = ["ts", "status", "line_number"] if schema is EVENTS_SCHEMA else True
            writers[key] = (pq.ParquetWriter(staged, schema, compression="zstd", write_statistics=stats), staged, [0])
        writer, _, rows = writers[key]
        writer.write_table(table)
        rows[0] += table.num_rows

    totals = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    end_offset = plan.start_offset
    with ThreadPoolExecutor(max_workers=settings.parse_threads) as pool:
        pending: collections.deque = collections.deque()

        def drain_one() -> None:
            nonlocal end_offset
            future, after = pending.popleft()
            result: _ChunkResult = future.result()
            for day, table in result.events_by_day.items():
                write(("events", day), table, EVENTS_SCHEMA, f"events-{day.isoformat()}.parquet")
                totals["parsed"] += table.num_rows
            if result.quarantine.num_rows:
                write(("quarantine",), result.quarantine, QUARANTINE_SCHEMA, "quarantine.parquet")
            totals["read"] += result.lines
            totals["quarantined"] += result.quarantine.num_rows
            reasons.update(result.reasons)
            end_offset = after
            failpoint("parse.mid_chunks")

        # At most parse_threads + 1 chunks in memory at once, whatever the file size.
        for chunk, after in _read_chunks(plan, settings.chunk_bytes):
            future = pool.submit(_process_chunk, chunk, settings.log_format, keys, enricher, settings, plan)
            pending.append((future, after))
            if len(pending) > settings.parse_threads:
                drain_one()
        while pending:
            drain_one()

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
            final = Path("events") / f"event_date={day.isoformat()}" / _final_name(plan, run_id)
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
            final = Path("quarantine") / f"ingest_date={ingest_date.isoformat()}" / _final_name(plan, run_id)
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
        "parsed source %s (%s): %d lines read, %d parsed, %d quarantined",
        plan.source_id,
        plan.path,
        totals["read"],
        totals["parsed"],
        totals["quarantined"],
    )
    return {
        "plan": plan.to_dict(),
        "end_offset": end_offset,
        "lines_read": totals["read"],
        "lines_parsed": totals["parsed"],
        "lines_quarantined": totals["quarantined"],
        "reasons": dict(reasons),
        "files": files,
    }


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


class RejectRateExceeded(RuntimeError):
    """Raised by :func:`commit` after it committed, when some sources' reads were rejected.

    Attributes:
        rejected: one dict per rejected source: ``path``, ``source_id``, ``start_offset``,
            ``end_offset``, ``lines_read``, ``lines_quarantined``, ``rate``, ``reasons``.
        committed: what :func:`commit` would have returned (the other sources' days, counts).
    """

    def __init__(self, rejected: list[dict], committed: dict, max_rate: float, log_format: str):
        self.rejected = rejected
        self.committed = committed
        lines = []
        for r in rejected:
            top = sorted(r["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            lines.append(
                f"  {r['path']}: {r['lines_quarantined']:,} of {r['lines_read']:,} lines quarantined "
                f"({r['rate']:.1%}; top reasons: {', '.join(f'{k} {v:,}' for k, v in top)})"
            )
        shown = log_format if len(log_format) <= 300 else log_format[:300] + "..."
        super().__init__(
            f"{len(rejected)} log file(s) rejected: more than {max_rate:.1%} (FOOTFALL_MAX_REJECT_RATE) of the "
            f"lines read were quarantined, so FOOTFALL_LOG_FORMAT probably does not match them:\n"
            + "\n".join(lines)
            + f"\nFOOTFALL_LOG_FORMAT is {shown!r}.\n"
            "Their quarantined lines are kept (view rejected_lines; data_quality.rejected), none of their "
            "events were committed and their offsets did not move: fix FOOTFALL_LOG_FORMAT and the next run "
            "reads the same lines again. To accept them as they are, run once with FOOTFALL_MAX_REJECT_RATE=1."
        )


def _commit_rejected(con, settings: Settings, plan: SourcePlan, result: dict, run_id: str, now) -> set[str]:
    """Register a rejected read's quarantined lines (kind ``rejected``) and its data_quality
    row, and nothing else: no events, no manifest change. Returns the files it replaces.

    An earlier rejected read of the same source and start offset covered no more than this
    one, so its lines are replaced: a format left wrong for days keeps one copy, not one per run.
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
    for f in result["files"]:
        if f["kind"] != "quarantine":
            continue  # events and user agents of a rejected read are dropped with the staging dir
        _install(con, settings.data_dir, f, "rejected", plan.source_id, run_id, now)
        old.discard(f["final"])
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


def commit(settings: Settings, results: list[dict], run_id: str, data_interval_end: dt.datetime | None = None) -> dict:
    """Move staged files into place and register them, exactly once per byte range.

    For each result whose plan still matches the manifest (same committed offset), in one
    transaction: register its files in ``ingest_files``, advance ``ingest_sources`` and
    insert a ``data_quality`` row; then record the run in ``ingest_runs`` (also when
    ``results`` is empty) and refresh the views. Files are renamed into place before the
    transaction: their names are deterministic (source id + start offset), so a crash in
    between leaves unregistered files that the views ignore and the retry overwrites. A
    source read again from offset 0 replaces its earlier files, which are deleted after.

    A read that :func:`exceeds_reject_rate` (``settings.max_reject_rate``) commits only its
    quarantined lines and its ``data_quality`` row (``rejected``); its events are dropped and
    its offset stays, so the same bytes are read again once the format is fixed. The other
    sources commit as usual, but the run is not recorded in ``ingest_runs`` (reports wait
    rather than miss that file's lines).

    Returns:
        ``{"days": [ISO dates to rebuild], "sources": n committed, "skipped": n stale,
        "lines_read", "lines_parsed", "lines_quarantined"}``.

    Raises:
        RejectRateExceeded: after the commit, when any read was rejected; its ``committed``
            holds the dict above.
    """
    con = storage.connect(settings.data_dir)
    now = dt.datetime.now(dt.UTC)
    days: set[str] = set()
    replaced: set[str] = set()
    summary = collections.Counter()
    rejected: list[dict] = []
    try:
        con.execute("begin transaction")
        for result in results:
            plan = SourcePlan(**result["plan"])
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
            if exceeds_reject_rate(*counts, settings.max_reject_rate):
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
            for f in result["files"]:
                if f["kind"] == "ua_cache":
                    _merge_ua_cache(settings.data_dir / f["final"], settings.data_dir / f["staged"])
                    continue
                _install(con, settings.data_dir, f, f["kind"], plan.source_id, run_id, now)
                replaced.discard(f["final"])
                if f["event_date"]:
                    days.add(f["event_date"])
            con.execute(
                """
                insert into ingest_sources (source_id, fingerprint, path, fingerprint_len, compressed, file_size,
                    committed_offset, committed_lines, first_ingested_at, last_ingested_at)
                values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                on conflict (source_id) do update set
                    fingerprint = excluded.fingerprint, fingerprint_len = excluded.fingerprint_len,
                    path = excluded.path, compressed = excluded.compressed, file_size = excluded.file_size,
                    committed_offset = excluded.committed_offset, committed_lines = excluded.committed_lines,
                    last_ingested_at = excluded.last_ingested_at
                """,
                [
                    plan.source_id, plan.fingerprint, plan.path, plan.fingerprint_len, plan.compressed, plan.file_size,
                    result["end_offset"], plan.start_line + result["lines_read"], now, now,
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
        if not rejected:  # a run with a rejected file has not ingested its interval
            con.execute(
                "insert or replace into ingest_runs values (?, ?, ?, ?, ?)",
                [run_id, data_interval_end, summary["sources"], summary["lines_read"], now],
            )
        con.execute("insert or ignore into aggregates_pending select unnest(cast(? as date[]))", [sorted(days)])
        storage.refresh_views(con, settings.data_dir)
        failpoint("commit.after_rename")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.close()
    failpoint("commit.after_commit")
    for path in replaced:
        (settings.data_dir / path).unlink(missing_ok=True)
    shutil.rmtree(settings.staging_dir / _safe(run_id), ignore_errors=True)
    keys = ("sources", "skipped", "lines_read", "lines_parsed", "lines_quarantined")
    committed = {"days": sorted(days), **{k: summary[k] for k in keys}}
    if rejected:
        for r in rejected:
            log.error("rejected %s: %.1f%% of %d lines quarantined", r["path"], 100 * r["rate"], r["lines_read"])
        raise RejectRateExceeded(rejected, committed, settings.max_reject_rate, settings.log_format.text)
    return committed


def _install(con, data_dir: Path, f: dict, kind: str, source_id: str, run_id: str, now: dt.datetime) -> None:
    """Move a staged file to its final name and register it in ``ingest_files`` (caller's transaction)."""
    final, staged = data_dir / f["final"], data_dir / f["staged"]
    final.parent.mkdir(parents=True, exist_ok=True)
    # A retry after a failed transaction finds the file already moved: keep it.
    if staged.exists() or not final.exists():
        os.replace(staged, final)
    con.execute(
        "insert or replace into ingest_files values (?, ?, ?, ?, ?, ?, ?)",
        [f["final"], kind, source_id, f["event_date"], f["rows"], run_id, now],
    )


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


def aggregate(settings: Settings, days: list[str]) -> int:
    """Rebuild every aggregate table for the days touched by the given UTC partitions.

    Args:
        days: ISO dates of UTC partitions that changed (from :func:`commit`). In another
            FOOTFALL_TIMEZONE a UTC date overlaps the local day before and after it, so
            those are rebuilt too.

    Returns:
        How many days were rebuilt.

    Raises:
        warehouse.dimensions.DimensionError: a dimension file is invalid (nothing rebuilt).
    """
    con = storage.connect(settings.data_dir)
    try:
        # The community views join the dimensions at query time: a changed file applies to
        # every day kept without a rebuild. A bad file fails here, before any rebuild.
        load_dimensions(con, settings.dimensions_dir, KeyStore(settings.secrets_dir, settings.hash_key).hash_key())
        con.execute(
            "insert or replace into warehouse_meta values ('growth_stable_pct', ?)", [str(settings.growth_stable_pct)]
        )
        # Also the days of commits whose rebuild never finished (a killed run, table
        # aggregates_pending): a later run has nothing new to commit for them.
        pending = {r[0] for r in con.execute("select event_date from aggregates_pending").fetchall()}
        utc_days = {dt.date.fromisoformat(d) for d in days} | pending
        local_days = utc_days
        if settings.timezone != "UTC":
            local_days = {d + dt.timedelta(days=k) for d in utc_days for k in (-1, 0, 1)}
        return storage.rebuild_aggregates(con, local_days, settings.model_params, done=utc_days)
    finally:
        con.close()


def purge_salts(settings: Settings, now: dt.datetime) -> list[str]:
    """Delete daily salts older than ``salt_max_age_h`` hours at ``now``; returns their days."""
    keys = KeyStore(settings.secrets_dir, settings.hash_key)
    return keys.purge_salts(now, dt.timedelta(hours=settings.salt_max_age_h))
