"""The delivery spool: the files one delivery run shares between its claim, send and record steps.

:func:`warehouse.reporting.outbox.claim` writes ``<data_dir>/delivery/<claim_id>/``: the claimed
payloads and ``claim.json`` listing them; :func:`warehouse.reporting.delivery.send_claim` appends
one :class:`Result` per report to ``results.jsonl`` there; :func:`warehouse.reporting.outbox.record`
reads them back. Only the claim and record steps open the warehouse.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from warehouse.settings import Settings

log = logging.getLogger(__name__)

SPOOL_DIRNAME = "delivery"
RESULTS_FILE = "results.jsonl"
CLAIM_FILE = "claim.json"


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of sending one claimed report in one delivery run (a line of ``results.jsonl``).

    ``outcome`` is ``delivered`` (2xx), ``rejected`` (final status) or ``retry`` (retryable
    failure; ``next_attempt_at`` says when to try again). ``attempts`` counts the POSTs of
    this run. ``sha256`` is the digest of the bytes sent.
    """

    report_id: str
    outcome: str
    attempts: int
    at: str
    sha256: str
    http_status: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None

    def to_line(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, separators=(",", ":")) + "\n"


def spool_root(settings: Settings) -> Path:
    """Where the spools of delivery runs are written (``<data_dir>/delivery``)."""
    return settings.data_dir / SPOOL_DIRNAME


def load_manifest(spool: Path) -> dict:
    """The ``claim.json`` of a spool directory."""
    return json.loads((Path(spool) / CLAIM_FILE).read_text())


def append_result(spool: Path, result: Result) -> None:
    """Append one outcome to ``results.jsonl`` and flush it to disk before the next POST."""
    with open(Path(spool) / RESULTS_FILE, "a", encoding="utf-8") as f:
        f.write(result.to_line())
        f.flush()
        os.fsync(f.fileno())


def read_results(spool: Path) -> list[Result]:
    """The outcomes recorded in a spool (none when it or its results file is missing).

    A torn last line (the process died while writing it) is ignored.
    """
    path = Path(spool) / RESULTS_FILE
    if not path.exists():
        return []
    results = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            results.append(Result(**json.loads(line)))
        except (ValueError, TypeError):
            log.warning("ignoring a torn line in %s", path)
    return results


def sent_payload(spool: Path, report_id: str) -> bytes | None:
    """The bytes a spool holds for ``report_id`` (what was sent), or None when it has none."""
    try:
        for entry in load_manifest(spool)["reports"]:
            if entry["report_id"] == report_id:
                return (Path(spool) / entry["file"]).read_bytes()
    except OSError:
        return None
    return None
