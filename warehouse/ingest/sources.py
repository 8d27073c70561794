"""Finding sources: the log files the globs match, recognised by content, and the manifest's reads.

A source is identified by a hash of its first bytes (decompressed), not by its name, so a
renamed or gzipped copy of a file already read is not read again. :func:`find_sources` plans,
per source file, the byte offset to start from and the site it belongs to; the manifest
(``ingest_sources``, ``ingest_runs``) is only read here, and written by
:mod:`warehouse.ingest.commit`.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from warehouse import storage
from warehouse.ingest.log_files import is_gzip, not_text_reason, read_head
from warehouse.settings import ConfigError, LogSource, Settings

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024
# A plain file's unterminated last line is read once its writer has been idle this long;
# before that it is probably a line still being written, left for the next run.
TAIL_GRACE = dt.timedelta(minutes=5)


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


def _match(head: bytes, by_fingerprint: dict, lengths: list[int]) -> tuple | None:
    """The manifest row whose fingerprint the file's first bytes reproduce, longest first."""
    for n in lengths:
        key = (n, _fingerprint(head[:n]))
        if n <= len(head) and key in by_fingerprint:
            return by_fingerprint[key]
    return None


def mark_for_reingest(settings: Settings, path: Path) -> str | None:
    """Make the next ingest run read ``path`` again from its first byte.

    The source is found by content, as :func:`find_sources` does. Its committed offset is reset,
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


def ingested_through(settings: Settings) -> dt.datetime | None:
    """The latest data-interval end of a committed ingest run, or None before the first."""
    con = storage.connect(settings.data_dir)
    try:
        return con.execute("select max(data_interval_end) from ingest_runs").fetchone()[0]
    finally:
        con.close()
