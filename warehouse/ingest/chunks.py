"""The chunks of whole lines of one work unit, read in bounded memory, damage kept apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warehouse.ingest.log_files import Damage, SourceChanged, open_log
from warehouse.ingest.planning import WorkUnit


@dataclass
class Chunk:
    """Whole lines of a source: ``data`` and the 1-based number of its first line."""

    data: bytes
    first_line: int


class ChunkReader:
    """The chunks of whole lines of one work unit, and how far it has got.

    Iterating yields ``(Chunk, offset after it)`` over the unit's byte range. A bounded unit
    (``end_offset`` set) must end exactly at its planned line end. A last line without a newline
    is yielded only by a source's last unit and only when ``plan.read_tail``: a ``.gz`` is
    complete, and a plain file whose writer has been idle for a while will not finish the line;
    otherwise it is left for the next run (the offset stops before it).

    A damaged ``.gz`` ends at the damage: :attr:`damage` is then set and :attr:`partial_line`
    holds the incomplete line before it (not yielded). Iterating raises :class:`SourceChanged`
    when a bounded unit's file ends early or has no line end at the planned offset any more.
    """

    def __init__(self, unit: WorkUnit, chunk_bytes: int) -> None:
        self.unit = unit
        self.chunk_bytes = chunk_bytes
        self.damage: Damage | None = None
        self.partial_line = b""
        self.next_line = unit.first_line + 1
        self._fraction = 0.0

    def fraction(self) -> float:
        """Share of the unit read so far, 0 to 1 (compressed bytes for a ``.gz``)."""
        return self._fraction

    def __iter__(self) -> Iterator[tuple[Chunk, int]]:
        unit = self.unit
        plan, path = unit.plan, Path(unit.plan.path)
        offset = unit.start_offset
        remaining = None if unit.end_offset is None else unit.end_offset - unit.start_offset
        total = (unit.end_offset if unit.end_offset is not None else plan.file_size) - unit.start_offset
        with open_log(path, plan.compressed) as f:
            if plan.compressed:
                skip = unit.start_offset
                while skip:
                    skipped = len(f.read(min(skip, self.chunk_bytes)))
                    if not skipped:
                        self.damage = f.damage
                        return
                    skip -= skipped
            else:
                f.seek(unit.start_offset)
            carry = b""
            while remaining is None or remaining > 0:
                block = f.read(self.chunk_bytes if remaining is None else min(self.chunk_bytes, remaining))
                if not block:
                    break
                if remaining is not None:
                    remaining -= len(block)
                if plan.compressed:
                    self._fraction = min(1.0, f.compressed_position() / max(plan.file_size, 1))
                else:
                    self._fraction = min(1.0, (offset + len(carry) + len(block) - unit.start_offset) / max(total, 1))
                data = carry + block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                carry = data[cut:]
                offset += cut
                yield Chunk(data[:cut], self.next_line), offset
                self.next_line += data.count(b"\n", 0, cut)
            if plan.compressed and f.damage is not None:
                self.damage, self.partial_line = f.damage, carry
                return
            if unit.end_offset is not None:
                if remaining or carry:
                    raise SourceChanged(
                        f"{path} has no line end at byte {unit.end_offset:,} any more (truncated or rewritten since "
                        "it was planned); this unit fails and the next run plans the file again"
                    )
            elif carry and plan.read_tail:
                offset += len(carry)
                yield Chunk(carry, self.next_line), offset
                self.next_line += 1
        self._fraction = 1.0
