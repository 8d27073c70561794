"""``check``: the preflight of ``make run``, printed (see :mod:`warehouse.preflight`)."""

from __future__ import annotations

import datetime as dt
import os
import sys

from warehouse.cli.app import app
from warehouse.errors import CommandError, explain
from warehouse.preflight import FileReport, Preflight, check_environment, preflight
from warehouse.settings import Settings


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def _file_line(r: FileReport) -> str:
    line = f"    {r.path.name}  {_size(r.size)}"
    if r.size == 0:
        return line + "  empty"
    if r.problem and not r.lines:
        return line + "  not text"
    line += f"  {r.parsed:,} of {r.lines:,} sampled lines parse ({r.share:.0%})"
    if r.reasons:
        line += "; quarantined: " + ", ".join(f"{reason} {n:,}" for reason, n in r.reasons[:3])
    if r.first is not None:
        line += f"; lines from {r.first}" + (f" .. {r.last}" if r.last != r.first else "")
    return line


def validate(settings: Settings) -> None:
    """What a run needs beyond the settings themselves: a readable GeoIP database, a reporting
    endpoint when reporting is on, and valid dimension files (checked in full, or the first
    aggregation would fail on them).

    Raises:
        transforms.geoip.GeoIPConfigError, warehouse.settings.ConfigError,
        transforms.models.dimensions.DimensionError: shown as one line.
    """
    from transforms.geoip import GeoIP

    GeoIP(settings.geoip_database)
    settings.check_reporting()
    if settings.dimensions_dir is not None:
        from transforms.models.dimensions import read_dimensions
        from transforms.privacy import KeyStore

        read_dimensions(settings.dimensions_dir, KeyStore(settings.secrets_dir, settings.hash_key).hash_key())


def _format_name(configured: str | None) -> str:
    """How FOOTFALL_LOG_FORMAT is shown: its name, or the start of the format."""
    from parsers.log_format import NAMED_FORMATS

    text = (configured or "").strip()
    if not text:
        return "combined (the default)"
    if text.lower() in NAMED_FORMATS:
        return text.lower()
    return text if len(text) <= 60 else text[:57] + "..."


def report(result: Preflight, settings: Settings, out=None, err=None) -> None:
    """Print the findings: the files per glob on ``out``, then notes and warnings, then the
    errors last on ``err`` (the last thing printed says what to fix)."""
    out, err = out or sys.stdout, err or sys.stderr
    shown = _format_name(os.environ.get("FOOTFALL_LOG_FORMAT"))
    out.write(f"settings: OK (log format {shown}; data dir {settings.data_dir})\n")
    for variable, pattern, site, files in result.globs:
        out.write(f"{variable} {pattern} (site {site}): {len(files)} file(s)\n")
        for r in files:
            out.write(_file_line(r) + "\n")
    out.flush()
    for note in result.notes:
        err.write(f"note: {note}\n")
    for warning in result.warnings:
        err.write(f"warning: {warning}\n")
    for error in result.errors:
        err.write(f"error: {error}\n")


@app.command("check", short_help="settings and a sample of every log, before a run")
def check_command() -> int:
    """Check the configuration and read a sample of every log before a run (the first step of make run).

    Fails (exit 2) on an unknown FOOTFALL_* or VISIT_TRACKING_* variable (naming the closest
    known one), a malformed setting, a glob that matches no file, or a file whose sampled
    lines FOOTFALL_LOG_FORMAT does not parse (suggesting a format that does, ready to paste).
    Warns about files that are not text or damaged, lines older than the retention windows,
    and when the bundled sample is read.
    """
    unknown = check_environment(os.environ)
    try:
        settings = Settings.from_env()
        validate(settings)
    except Exception as exc:
        explanation = explain(exc)
        if explanation is None:
            raise
        for line in unknown:  # a typo'd variable is often why a setting is missing
            print(f"error: {line}", file=sys.stderr)
        raise CommandError(explanation.message, explanation.exit_code) from None
    result = preflight(settings, os.environ, dt.datetime.now(dt.UTC))
    report(result, settings)
    if result.errors:
        return 2
    print(f"configuration OK: logs {', '.join(settings.log_globs)}; data dir {settings.data_dir}")
    return 0
