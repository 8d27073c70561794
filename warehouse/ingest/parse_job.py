"""The parse job: one work unit's bytes parsed, enriched and pseudonymised into staged Parquet.

A parse task is handed a :class:`ParseJob` (what it needs of the settings, built by the task)
and one :class:`warehouse.ingest.planning.WorkUnit`. It reads the unit in chunks of whole lines
(:mod:`warehouse.ingest.chunks`), parses each chunk column-wise (:mod:`parsers.fast_path`),
enriches it (:mod:`transforms.enrich`), pseudonymises it (:mod:`transforms.privacy`) and writes
the staged files (:mod:`warehouse.ingest.event_files`). It never opens the warehouse, so many
can run at once, on several hosts.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from parsers.coded import CodedEvents, code_column
from parsers.fast_path import Template, compile_template, parse_chunk
from parsers.log_format import LogFormat
from transforms.enrich import Enricher
from transforms.privacy import KeyStore, identify_user_agents, pseudonymise
from transforms.redaction import redact_quarantined_lines
from transforms.routes import Routes
from warehouse import clock, staging
from warehouse.failpoints import failpoint
from warehouse.ingest.chunks import Chunk, ChunkReader
from warehouse.ingest.event_files import StagedFiles, run_staging_dir
from warehouse.ingest.log_files import REASON_GZIP_TRUNCATED, REASON_NOT_TEXT
from warehouse.ingest.planning import WorkUnit
from warehouse.ingest.sources import TAIL_GRACE, SourcePlan
from warehouse.progress import ParseProgress
from warehouse.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA
from warehouse.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseJob:
    """What parsing a work unit needs of the settings, and nothing else (see :meth:`from_settings`).

    Built by the parse task from the run's settings; it is not passed through XCom (it holds
    the hash key).

    Attributes:
        data_dir: the data dir; staged file paths are given relative to it.
        staging_dir: where each run's staged files are written (``<data_dir>/staging``).
        staging_url, storage_conn_id: ``FOOTFALL_STAGING_URL`` and ``FOOTFALL_STORAGE_CONN_ID``:
            where the staged files travel to the commit (:mod:`warehouse.staging`).
        secrets_dir: the hash key file and daily salts (:class:`transforms.privacy.KeyStore`).
        hash_key: ``FOOTFALL_HASH_KEY``, when set instead of a key file.
        log_format, user_id_field, session_field: how lines are parsed.
        chunk_bytes: bytes parsed per chunk; ``parse_threads`` chunks are parsed at once.
        timezone: IANA name; the visitor id's day is the wall-clock day in it.
        future_tolerance_s: a line dated more than this many seconds after it is read is quarantined.
        redact_request_addresses: store IP addresses in requests and user agents as ``<address>``.
        ua_cache: the cross-run cache of classified user agents, relative to the data dir.
        geoip_database, trusted_proxies, site_hosts, sensitive_params, crawler_patterns, routes:
            the enrichment's inputs (:class:`transforms.enrich.Enricher`).
    """

    data_dir: Path
    staging_dir: Path
    staging_url: str | None
    storage_conn_id: str
    secrets_dir: Path
    hash_key: str | None
    log_format: LogFormat
    user_id_field: str | None
    session_field: str | None
    chunk_bytes: int
    parse_threads: int
    timezone: str
    future_tolerance_s: int
    redact_request_addresses: bool
    ua_cache: str
    geoip_database: Path | None
    trusted_proxies: tuple[str, ...]
    site_hosts: tuple[str, ...]
    sensitive_params: tuple[str, ...] | None
    crawler_patterns: str | None
    routes: Routes | None

    def __repr__(self) -> str:  # the hash key stays out of task logs
        return f"ParseJob(data_dir={str(self.data_dir)!r}, log_format={self.log_format.text!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseJob:
        """The job of a parse task of a deployment with these settings."""
        return cls(
            data_dir=settings.data_dir,
            staging_dir=settings.staging_dir,
            staging_url=settings.staging_url,
            storage_conn_id=settings.storage_conn_id,
            secrets_dir=settings.secrets_dir,
            hash_key=settings.hash_key,
            log_format=settings.log_format,
            user_id_field=settings.user_id_field,
            session_field=settings.session_field,
            chunk_bytes=settings.chunk_bytes,
            parse_threads=settings.parse_threads,
            timezone=settings.timezone,
            future_tolerance_s=settings.future_tolerance_s,
            redact_request_addresses=settings.redact_request_addresses,
            ua_cache=ua_cache_path(settings.crawler_patterns),
            geoip_database=settings.geoip_database,
            trusted_proxies=settings.trusted_proxies,
            site_hosts=settings.site_hosts,
            sensitive_params=settings.sensitive_params,
            crawler_patterns=settings.crawler_patterns,
            routes=settings.routes,
        )


def ua_cache_path(crawler_patterns: str | None) -> str:
    """The cross-run cache of classified user agents, relative to the data dir.

    Keyed by user_agent_id; its name carries a digest of everything a classification depends
    on (the rule packages' versions and FOOTFALL_CRAWLER_PATTERNS), so changing any of them
    starts a fresh cache instead of serving stale answers.
    """
    from importlib.metadata import version

    rules = "|".join(
        [version(p) for p in ("ua-parser", "ua-parser-builtins", "user-agents", "crawlerdetect")]
        + [crawler_patterns or ""]
    )
    return f"cache/user_agents-{hashlib.sha256(rules.encode()).hexdigest()[:12]}.parquet"


def make_enricher(job: ParseJob) -> Enricher:
    """The :class:`Enricher` a parse task uses.

    Raises:
        transforms.geoip.GeoIPConfigError: the GeoIP database is missing or unreadable.
    """
    return Enricher(
        job.data_dir / job.ua_cache,
        geoip_database=job.geoip_database,
        trusted_proxies=job.trusted_proxies,
        site_hosts=job.site_hosts,
        sensitive_params=job.sensitive_params,
        crawler_patterns=job.crawler_patterns,
        routes=job.routes,
        redact_addresses=job.redact_request_addresses,
    )


@dataclass
class _ChunkResult:
    events_by_day: dict[dt.date, pa.Table]
    events_bytes: int  # of the table the per-day slices share
    quarantine: pa.Table
    lines: int
    reasons: collections.Counter


def _process_chunk(
    chunk: Chunk, template: Template | None, keys: KeyStore, enricher: Enricher, job: ParseJob, plan: SourcePlan,
    not_after: dt.datetime,
) -> _ChunkResult:  # fmt: skip
    fmt, fields = job.log_format, {"user_field": job.user_id_field, "session_field": job.session_field}
    parsed = parse_chunk(chunk.data, chunk.first_line, fmt, template, **fields, not_after=not_after)
    # The site of the glob that matched the file: stored, and keyed into the visitor id.
    # Pseudonymisation owns every key: it hands enrichment the user agents' ids (the key of the
    # classification cache), then replaces what identifies a person once enrichment is done.
    events = pseudonymise(
        enricher.apply(identify_user_agents(parsed.events, keys)), keys, plan.site, job.timezone,
        redact_user_agent=job.redact_request_addresses,
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


def parse_source(
    job: ParseJob, unit: WorkUnit, run_id: str, ingest_date: dt.date, now: dt.datetime | None = None
) -> dict:
    """Parse one work unit of a source into staged Parquet files.

    Reads the unit's byte range in chunks of ``job.chunk_bytes``, ``job.parse_threads`` of
    them at once; writes ``staging/<run_id>/<source_id>-<start_offset>/`` only (a retry
    starts that folder again), never the warehouse.

    Args:
        job: what the parse needs of the settings (:meth:`ParseJob.from_settings`).
        unit: what to read, from :func:`warehouse.ingest.planning.plan_units`.
        run_id: the Airflow run id (names the staging folder and the run digest of file names).
        ingest_date: the run's date, the partition of quarantined lines.
        now: the time the lines are read (default: the clock): a line dated more than
            ``job.future_tolerance_s`` after it is quarantined as ``future_time``.

    A file that is not text (``plan.not_text``) is not read: one quarantined entry (reason
    ``not_text``) stands for it and its offset goes to its end, so it is rejected once. A damaged
    ``.gz`` yields the lines before the damage plus one quarantined entry for the damage
    (``gzip_truncated`` or ``gzip_corrupt``, holding the incomplete line before it, redacted),
    unless it was modified within :data:`warehouse.ingest.sources.TAIL_GRACE` and ends early: then it is probably still
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
    keys = KeyStore(job.secrets_dir, job.hash_key)
    enricher = make_enricher(job)
    template = compile_template(job.log_format, job.user_id_field, job.session_field)
    not_after = clock.latest_event_time(now or clock.utcnow(), job.future_tolerance_s)
    # A retry starts its unit's folder, and its prefix in object storage, afresh.
    stage = staging.unit_dir(
        job, run_staging_dir(job.staging_dir, run_id).name, f"{plan.source_id}-{unit.start_offset:015d}"
    )
    staged = StagedFiles(job.data_dir, stage)

    totals = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    end_offset = unit.start_offset
    reader = ChunkReader(unit, job.chunk_bytes)
    label = Path(plan.path).name + (f" part {unit.index + 1}" if unit.index or unit.end_offset is not None else "")
    progress = ParseProgress(label, reader.fraction)
    entry = None  # (reason, partial line) of one quarantined entry for the whole file: damaged or not text
    if plan.not_text:
        # Rejected once: committed as read to its end, with one entry saying why, never parsed.
        log.warning("%s is not parsed: %s", plan.path, plan.not_text)
        entry, end_offset = (REASON_NOT_TEXT, b""), unit.start_offset if plan.compressed else plan.file_size
    else:
        with ThreadPoolExecutor(max_workers=job.parse_threads) as pool:
            pending: collections.deque = collections.deque()

            def drain_one() -> None:
                nonlocal end_offset
                future, after = pending.popleft()
                result: _ChunkResult = future.result()
                staged.add_events(result.events_by_day, result.events_bytes)
                totals["parsed"] += result.lines - result.quarantine.num_rows
                if result.quarantine.num_rows:
                    staged.write_quarantine(result.quarantine)
                totals["read"] += result.lines
                totals["quarantined"] += result.quarantine.num_rows
                reasons.update(result.reasons)
                end_offset = after
                progress.update(totals["read"])
                failpoint("parse.mid_chunks")

            # At most parse_threads + 1 chunks in memory at once, whatever the file size.
            for chunk, after in reader:
                future = pool.submit(_process_chunk, chunk, template, keys, enricher, job, plan, not_after)
                pending.append((future, after))
                if len(pending) > job.parse_threads:
                    drain_one()
            while pending:
                drain_one()
        staged.flush()
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
        staged.write_quarantine(table)
        reasons[entry[0]] += 1
        totals["read"] += 1
        totals["quarantined"] += 1
    progress.finish(totals["read"])

    files = []
    new_agents = enricher.new_user_agents()
    if new_agents.height:
        agents = stage / "user-agents.parquet"
        new_agents.write_parquet(agents)
        files.append(
            {
                "kind": "ua_cache",
                "event_date": None,
                "rows": new_agents.height,
                "staged": str(agents.relative_to(job.data_dir)),
                "final": job.ua_cache,
            }
        )
    files += staged.close(plan.source_id, unit.start_offset, run_id, ingest_date)
    files = staging.publish(job, stage, files)  # object staging: uploaded, local copies gone
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
