"""The preflight check: read the configured logs before a run, and say what a run would do.

``python -m warehouse.cli check`` (the first step of ``make run``) runs :func:`preflight` and
prints its findings; the ingest would otherwise discover a typo'd variable, a glob that matches
nothing or a wrong log format only after a full run. For every configured glob it lists the
files it matches; for every file it parses a sample of its first lines (at most
:data:`SAMPLE_LINES` lines and :data:`SAMPLE_BYTES` bytes, decompressed for a ``.gz``; and as
many of a plain file's last lines) with ``FOOTFALL_LOG_FORMAT``, and reports the share that
parses, the top quarantine reasons, and a format that parses clearly more
(:func:`parsers.format_guess.best_alternative`) as a ``FOOTFALL_LOG_FORMAT=...`` line ready to
paste. It also warns when the files' lines are older than the retention windows, saying what
the retention DAG would do to them.

Errors (the check fails): an unknown ``FOOTFALL_*``/``VISIT_TRACKING_*`` variable, a glob that
matches no file, a file whose sample the ingest would reject (more than
``FOOTFALL_MAX_REJECT_RATE`` quarantined), and object staging (``FOOTFALL_STAGING_URL``) whose
Connection is missing or whose bucket it cannot list (:func:`warehouse.staging.check`).
Warnings: a file that is not text or is damaged (the ingest keeps what it can, the rest is
quarantined once), old lines, the bundled sample.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warehouse import staging
from warehouse.environment import describe_unknown, unknown_variables
from warehouse.settings import SAMPLE_LOG, Settings

SAMPLE_LINES = 2000
SAMPLE_BYTES = 512 * 1024
# Files sampled at most per check; a larger backlog is listed with a count.
MAX_FILES = 1000


@dataclass
class FileReport:
    """What the sample of one log file says.

    Attributes:
        path, size: the file and its size on disk (bytes).
        lines, parsed: sampled lines and how many parse with the configured format.
        reasons: quarantine reason -> sampled lines, most frequent first.
        suggestion: ``(name, FOOTFALL_LOG_FORMAT value, lines parsed)`` of a format that parses
            clearly more, or ``None``.
        first, last: UTC dates of the earliest and latest parsed sampled lines (``None`` if none).
        problem: why the file cannot be read as a log (not text), or the damage met.
    """

    path: Path
    size: int
    lines: int = 0
    parsed: int = 0
    reasons: tuple[tuple[str, int], ...] = ()
    suggestion: tuple[str, str, int] | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    problem: str | None = None

    @property
    def share(self) -> float:
        return self.parsed / self.lines if self.lines else 1.0


@dataclass
class Preflight:
    """Findings of :func:`preflight`: ``globs`` as ``(variable, glob, site, [FileReport])``, and
    ``notes``, ``warnings`` and ``errors`` as sentences (errors fail the check)."""

    globs: list[tuple[str, str, str, list[FileReport]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def check_environment(env: Mapping[str, str]) -> list[str]:
    """Errors for the unknown ``FOOTFALL_*``/``VISIT_TRACKING_*`` variables of ``env``."""
    unknown = unknown_variables(env)
    return describe_unknown(unknown).splitlines() if unknown else []


def _matches(pattern: str) -> list[Path]:
    return sorted(Path(p).absolute() for p in glob.glob(os.path.expanduser(pattern)) if Path(p).is_file())


def sample_file(path: Path, settings: Settings) -> FileReport:
    """Sample one log file (see the module docstring) and parse the sample."""
    from parsers.access_log import parse_lines
    from parsers.fast_path import as_utf8, lines_frame
    from parsers.format_guess import best_alternative, fit
    from warehouse.ingest.log_files import is_gzip, not_text_reason, read_sample

    report = FileReport(path, path.stat().st_size)
    if report.size == 0:
        return report
    compressed = is_gzip(path)
    sample = read_sample(path, compressed, SAMPLE_BYTES, SAMPLE_LINES)
    report.problem = not_text_reason(sample.head[:1024])
    if report.problem:
        return report
    if sample.damage is not None:
        report.problem = f"damaged ({sample.damage.reason}): {sample.damage.detail}"
    lines = lines_frame(as_utf8(sample.head), 1)
    configured = fit(lines, settings.log_format, "configured", settings.log_format.text)
    report.lines, report.parsed, report.reasons = configured.lines, configured.parsed, configured.reasons
    if configured.parsed < configured.lines:
        better = best_alternative(lines, configured)
        if better is not None:
            report.suggestion = (better.name, better.text, better.parsed)
    times = []
    for data in (sample.head, sample.tail):
        if data:
            events = parse_lines(lines_frame(as_utf8(data), 1), settings.log_format, user_field=None).events
            if events.height:
                times += [events.get_column("ts").min(), events.get_column("ts").max()]
    if times:
        report.first, report.last = min(times).date(), max(times).date()
    return report


def preflight(settings: Settings, env: Mapping[str, str], now: dt.datetime) -> Preflight:
    """Check the environment and sample every configured log file (see the module docstring).

    Args:
        settings: built from ``env`` (a configuration error is raised before this is called).
        env: the environment, for the unknown-variable check and to tell the bundled sample.
        now: the clock the retention windows are judged at.
    """
    result = Preflight(errors=check_environment(env))
    if not env.get("FOOTFALL_LOG_GLOB") and not env.get("FOOTFALL_LOG_SOURCES"):
        result.notes.append(
            f"no FOOTFALL_LOG_GLOB or FOOTFALL_LOG_SOURCES is set: the bundled sample {SAMPLE_LOG} is read "
            "(set FOOTFALL_LOG_GLOB to read your own logs)"
        )
    sampled = 0
    for source in settings.log_sources:
        variable = source.variable or "the bundled sample"
        paths = _matches(source.glob)
        reports = []
        for path in paths:
            if sampled < MAX_FILES:
                reports.append(sample_file(path, settings))
                sampled += 1
        result.globs.append((variable, source.glob, source.site, reports))
        if not paths:
            result.errors.append(f"{variable}: the glob {source.glob!r} matches no file; nothing would be read from it")
        elif len(paths) > len(reports):
            result.notes.append(f"{source.glob}: {len(paths) - len(reports)} more file(s) not sampled")
    _judge(result, settings, now)
    result.errors += staging.check(settings)  # object staging: the Connection and the bucket
    return result


def _format_value(text: str) -> str:
    return shlex.quote(text) if any(c in text for c in " \"'$[]{}") else text


def _judge(result: Preflight, settings: Settings, now: dt.datetime) -> None:
    """Turn the file reports into warnings and errors."""
    old: list[FileReport] = []
    events_cut = now.astimezone(dt.UTC).date() - dt.timedelta(days=settings.retention_events_days)
    for _, _, _, reports in result.globs:
        for r in reports:
            if r.problem and r.lines == 0:
                result.warnings.append(
                    f"{r.path}: {r.problem}; the ingest rejects it once (quarantine reason not_text)"
                )
                continue
            if r.problem:
                result.warnings.append(
                    f"{r.path}: {r.problem}; the lines before the damage are ingested and the damage is quarantined"
                )
            rejected = r.lines >= 20 or r.parsed == 0
            if r.lines and rejected and (r.lines - r.parsed) > settings.max_reject_rate * r.lines:
                top = ", ".join(f"{reason} {n:,}" for reason, n in r.reasons[:3])
                message = (
                    f"{r.path}: {r.parsed:,} of {r.lines:,} sampled lines parse with FOOTFALL_LOG_FORMAT "
                    f"({r.share:.0%}; quarantined: {top}), so the ingest would reject it "
                    f"(FOOTFALL_MAX_REJECT_RATE={settings.max_reject_rate:g})"
                )
                if r.suggestion:
                    name, text, parsed = r.suggestion
                    kind = "the JSON template built from its keys" if name == "json" else f"the format {name}"
                    message += f"; {kind} parses {parsed:,} of them. Use:\n  FOOTFALL_LOG_FORMAT={_format_value(text)}"
                else:
                    message += "; give the log_format of these lines as written in nginx.conf"
                result.errors.append(message)
            elif r.suggestion:
                name, text, parsed = r.suggestion
                result.warnings.append(
                    f"{r.path}: {name} parses {parsed:,} of {r.lines:,} sampled lines, FOOTFALL_LOG_FORMAT "
                    f"{r.parsed:,}: consider FOOTFALL_LOG_FORMAT={_format_value(text)}"
                )
            if r.last is not None and r.first is not None and r.first < events_cut:
                old.append(r)
    if old:
        result.warnings.append(_retention_warning(old, settings, now, events_cut))


def _retention_warning(old: list[FileReport], settings: Settings, now: dt.datetime, events_cut: dt.date) -> str:
    first = min(r.first for r in old)
    last = max(r.last for r in old)
    aggregates = (
        "their daily aggregates are kept (FOOTFALL_RETENTION_AGGREGATES_DAYS is unset)"
        if settings.retention_aggregates_days is None
        else f"their daily aggregates older than {settings.retention_aggregates_days} days are rolled up into the "
        "monthly tables and deleted (FOOTFALL_RETENTION_AGGREGATES_DAYS)"
    )
    visitors_cut = now.date() - dt.timedelta(days=settings.retention_visitors_days)
    visitors = f", and their per-day visitor rows before {visitors_cut} are deleted" if first < visitors_cut else ""
    return (
        f"{len(old)} file(s) hold lines from {first} .. {last} (UTC), older than the raw-event retention "
        f"(FOOTFALL_RETENTION_EVENTS_DAYS={settings.retention_events_days}: before {events_cut}). Once "
        f"footfall_retention runs (it starts paused), their raw events are deleted{visitors}; {aggregates}. "
        "python -m warehouse.cli retention --dry-run shows what a run would delete."
    )
