"""Reading the bytes of log files: plain or gzip, whole lines, damage kept apart.

A log file can be damaged without being worthless: a ``.gz`` cut off by a full disk or an
interrupted copy still holds every line before the cut, and a corrupt block leaves the blocks
before it readable. :class:`GzipReader` decompresses up to the damage and records it
(:class:`Damage`) instead of raising, so that the ingest keeps those lines and records the damage
as one quarantined entry with its own reason. A file that is not text at all (an image or an
archive matched by a broad glob) is recognised from its first bytes (:func:`not_text_reason`).

Also here: where work units are cut (:func:`line_boundaries`, :func:`count_lines`); the chunks
of whole lines a unit is parsed in are read by :mod:`warehouse.ingest.chunks`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
# Quarantine reasons of damaged or unreadable files (docs/analysts/schema.md, "Quarantine reasons").
REASON_GZIP_TRUNCATED = "gzip_truncated"
REASON_GZIP_CORRUPT = "gzip_corrupt"
REASON_NOT_TEXT = "not_text"
# Compressed bytes fed to zlib at once.
_BLOCK = 64 * 1024
# Bytes read per step when looking for a line end after a unit boundary, and when counting lines.
_SCAN_BYTES = 64 * 1024
_COUNT_BYTES = 8 * 1024 * 1024


class SourceChanged(RuntimeError):
    """A plain source no longer has the bytes a work unit was planned on (truncated or
    rewritten in between). The unit fails; the next run plans the file again."""


@dataclass(frozen=True)
class Damage:
    """Where and why a compressed log stopped decompressing.

    Attributes:
        reason: :data:`REASON_GZIP_TRUNCATED` (the data ends before the end-of-stream marker)
            or :data:`REASON_GZIP_CORRUPT` (zlib refused the data, or junk follows the last member).
        detail: a sentence for people, with the compressed byte offset.
        offset: decompressed bytes readable before the damage.
    """

    reason: str
    detail: str
    offset: int


class GzipReader:
    """The decompressed bytes of a gzip file (one or more members), up to any damage.

    Unlike :func:`gzip.open`, reading never raises on a truncated or corrupt file: it returns
    what decompressed before the damage, then end of file, and :attr:`damage` says what
    happened. Trailing zero bytes after the last member (padding some tools write) are not
    damage. A file object: ``read(n)``, ``close()``, and the context manager protocol.
    """

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = open(path, "rb")
        self._path = path
        self._zlib = zlib.decompressobj(wbits=31)
        self._out = bytearray()
        self._produced = 0  # decompressed bytes returned or buffered
        self._done = False
        self.damage: Damage | None = None

    def __enter__(self) -> GzipReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def compressed_position(self) -> int:
        """Compressed bytes consumed so far (for progress estimates)."""
        return self._file.tell()

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decompressed bytes (all that is left when ``n`` < 0); ``b""`` at the end or at the damage."""
        while not self._done and (n < 0 or len(self._out) < n):
            self._fill(_BLOCK if n < 0 else max(n - len(self._out), _BLOCK))
        if n < 0 or n >= len(self._out):
            data, self._out = bytes(self._out), bytearray()
        else:
            data = bytes(self._out[:n])
            del self._out[:n]
        return data

    def _emit(self, data: bytes) -> None:
        self._out += data
        self._produced += len(data)

    def _stop(self, reason: str, detail: str) -> None:
        self._done = True
        self.damage = Damage(reason, f"{detail} (compressed byte {self._file.tell():,})", self._produced)

    def _fill(self, want: int) -> None:
        data = self._zlib.unconsumed_tail or self._file.read(_BLOCK)
        if not data:
            if self._zlib.eof:
                self._done = True
            else:
                self._emit(self._zlib.flush())
                self._stop(REASON_GZIP_TRUNCATED, "the compressed data ends before its end-of-stream marker")
            return
        saved = self._zlib.copy()
        try:
            self._emit(self._zlib.decompress(data, want))
        except zlib.error as exc:
            self._zlib = saved
            self._emit(self._readable_prefix(data))
            self._stop(REASON_GZIP_CORRUPT, f"the compressed data is corrupt: {exc}")
            return
        if self._zlib.eof:
            rest = self._zlib.unused_data
            if len(rest) < len(GZIP_MAGIC):
                rest += self._file.read(_BLOCK)
            if rest.startswith(GZIP_MAGIC):
                # Another member (concatenated gzip files): continue with a new decompressor.
                self._file.seek(self._file.tell() - len(rest))
                self._zlib = zlib.decompressobj(wbits=31)
            elif self._only_zeros(rest):
                self._done = True
            else:
                self._stop(REASON_GZIP_CORRUPT, "bytes that are not gzip data follow the last member")

    def _only_zeros(self, rest: bytes) -> bool:
        """Whether ``rest`` and everything after it in the file are zero bytes."""
        while rest:
            if rest.strip(b"\0"):
                return False
            rest = self._file.read(_BLOCK)
        return True

    def _readable_prefix(self, data: bytes) -> bytes:
        """What the longest prefix of ``data`` that zlib accepts decompresses to (bisection over
        copies of the decompressor): the lines of a corrupt block before the corruption."""
        low, high, best = 0, len(data), b""
        while high - low > 1:
            middle = (low + high) // 2
            attempt = self._zlib.copy()
            try:
                best = attempt.decompress(data[:middle])
                low = middle
            except zlib.error:
                high = middle
        return best


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic number (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_log(path: Path, compressed: bool) -> BinaryIO | GzipReader:
    """A binary file object over the log's text: :class:`GzipReader` or the plain file."""
    return GzipReader(Path(path)) if compressed else open(path, "rb")


def read_head(path: Path, compressed: bool, size: int) -> tuple[bytes, bool]:
    """The first ``size`` bytes of the log's text, and True; for a ``.gz`` of which nothing
    decompresses, its first compressed bytes (so that such files still get distinct
    fingerprints) and False."""
    with open_log(path, compressed) as f:
        head = f.read(size)
    if compressed and not head:
        with open(path, "rb") as raw:
            return raw.read(size), False
    return head, True


def not_text_reason(head: bytes) -> str | None:
    """Why ``head`` (a file's first bytes) is not a text log, or None when it is text.

    In a text log at most 10% of the bytes are control characters (NUL included; tab, newline,
    carriage return and form feed are text) or not UTF-8. A log with a junk line, NUL padding
    after a crash or raw Latin-1 bytes in a user agent is still text: those lines are quarantined
    one by one.
    """
    if not head:
        return None
    text = head.decode("utf-8", "replace")
    odd = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\f"))
    if odd * 10 > len(text):
        return f"it is not text: {odd / len(text):.0%} of its first {len(head):,} bytes are control or non-UTF-8 bytes"
    return None


def line_boundaries(path: Path, start: int, size: int, unit_bytes: int) -> list[int]:
    """Offsets just after a newline, about ``unit_bytes`` apart, strictly between ``start`` and ``size``.

    Seeks to each nominal cut and reads forward (``_SCAN_BYTES`` at a time) to the next
    newline: the cost is a few reads per unit, not the file.
    """
    cuts: list[int] = []
    with open(path, "rb") as f:
        target = start + unit_bytes
        while target < size:
            # From target - 1: when the byte before the nominal cut is a newline, cut exactly there.
            f.seek(target - 1)
            pos = target - 1
            while True:
                block = f.read(_SCAN_BYTES)
                if not block:
                    return cuts  # no newline up to the end: the rest is the last unit
                nl = block.find(b"\n")
                if nl >= 0:
                    cut = pos + nl + 1
                    break
                pos += len(block)
            if cut >= size:
                break
            cuts.append(cut)
            target = cut + unit_bytes
    return cuts


def count_lines(path: Path, start: int, end: int) -> int:
    """Newlines in bytes ``[start, end)`` of a plain file.

    Raises:
        SourceChanged: the file ends before ``end`` (truncated since it was planned).
    """
    n, remaining = 0, end - start
    with open(path, "rb") as f:
        f.seek(start)
        while remaining:
            block = f.read(min(_COUNT_BYTES, remaining))
            if not block:
                raise SourceChanged(f"{path} ends before byte {end:,}: it was truncated while being planned")
            n += block.count(b"\n")
            remaining -= len(block)
    return n


@dataclass(frozen=True)
class Sample:
    """The first (and, for a plain file, the last) whole lines of a log, for a preflight check.

    Attributes:
        head: whole lines from the start, at most the bytes and lines asked for.
        tail: whole lines from the end of a plain file (``b""`` for a ``.gz``, which cannot be
            read from its end without decompressing all of it, or when the head reached the end).
        damage: damage met while reading the head of a ``.gz``, if any.
    """

    head: bytes
    tail: bytes
    damage: Damage | None


def read_sample(path: Path, compressed: bool, max_bytes: int, max_lines: int) -> Sample:
    """At most ``max_lines`` whole lines and ``max_bytes`` bytes from each end of a log."""
    with open_log(path, compressed) as f:
        data = f.read(max_bytes)
        damage = f.damage if compressed else None
        at_end = len(data) < max_bytes or not f.read(1)
    head = b"".join(data.splitlines(keepends=True)[:max_lines])
    if not at_end and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]
    tail = b""
    if not compressed and not at_end:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - max_bytes))
            block = f.read(max_bytes)
        tail = b"".join(block[block.find(b"\n") + 1 :].splitlines(keepends=True)[-max_lines:])
    return Sample(head, tail, damage)
