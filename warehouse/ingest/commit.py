"""The exactly-once commit: staged files moved into place and registered, the manifest advanced.

:func:`commit` moves each parse result's staged files into place and, in one DuckDB
transaction, registers them (``ingest_files``), advances the manifest (``ingest_sources``) over
each source's contiguous parsed units and records data quality. A plan whose start offset no
longer matches the manifest (another run got there first) is discarded, and a read that
quarantined too much (:func:`exceeds_reject_rate`) keeps only its evidence.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from transforms.enrich import UA_CACHE_SCHEMA
from warehouse import staging, storage
from warehouse.failpoints import failpoint
from warehouse.ingest.errors import RejectRateExceeded, UnitsFailed
from warehouse.ingest.event_files import run_staging_dir
from warehouse.ingest.planning import WorkUnit
from warehouse.ingest.sources import SourcePlan
from warehouse.settings import Settings

log = logging.getLogger(__name__)


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
        results: :func:`warehouse.ingest.parse_job.parse_source` results, one per unit that parsed, in any order.
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
    run_key = run_staging_dir(settings.staging_dir, run_id).name
    reads, failed_units = _contiguous_reads(staging.fetch(settings, run_key, results), planned)
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
    staging.delete_run(settings, run_key)
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
