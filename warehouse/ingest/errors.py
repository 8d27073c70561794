"""What :func:`warehouse.ingest.commit.commit` raises when not every read of a run was committed."""

from __future__ import annotations

from parsers.access_log import REASON_FUTURE


class IngestIncomplete(RuntimeError):
    """Raised by :func:`warehouse.ingest.commit.commit` after it committed, when some of the run's reads were not
    committed in full; the run is then not recorded in ``ingest_runs``.

    Attributes:
        committed: what :func:`warehouse.ingest.commit.commit` would have returned (days to rebuild, counts).
        failed: one dict per planned work unit that has no parse result (its task failed):
            ``path``, ``source_id``, ``index``, ``start_offset``, ``end_offset`` (None: to the
            end of the file), and ``committed_offset``, where its source's offset now stands.
    """

    def __init__(self, message: str, committed: dict, failed: list[dict] = ()):
        self.committed = committed
        self.failed = list(failed)
        if self.failed:
            message += ("\n" if message else "") + _describe_failed(self.failed)
        super().__init__(message)


def _describe_failed(failed: list[dict]) -> str:
    lines = [
        f"  {f['path']} unit {f['index']} (bytes {f['start_offset']:,} to "
        f"{'the end' if f['end_offset'] is None else format(f['end_offset'], ',')}): its source is committed "
        f"up to byte {f['committed_offset']:,}"
        for f in failed
    ]
    return (
        f"{len(failed)} work unit(s) did not parse (see the failed parse_source tasks):\n"
        + "\n".join(lines)
        + "\nEach source was committed up to the first unit that did not parse; the units after it were "
        "discarded and the next run plans those bytes again."
    )


class UnitsFailed(IngestIncomplete):
    """Some planned work units did not parse: their sources committed the units before them."""


class RejectRateExceeded(IngestIncomplete):
    """Some sources' reads were rejected for their reject rate (the format is probably wrong).

    Attributes:
        rejected: one dict per rejected source: ``path``, ``source_id``, ``start_offset``,
            ``end_offset``, ``lines_read``, ``lines_quarantined``, ``rate``, ``reasons``.
        committed, failed: as :class:`IngestIncomplete` (units may also have failed).
    """

    def __init__(
        self, rejected: list[dict], committed: dict, max_rate: float, log_format: str, failed: list[dict] = ()
    ):
        self.rejected = rejected
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
            "events were committed and their offsets did not move: fix FOOTFALL_LOG_FORMAT (python -m "
            "warehouse.cli check suggests a format that parses them) and the next run reads the same lines "
            "again. To accept them as they are, run once with FOOTFALL_MAX_REJECT_RATE=1."
            + (_FUTURE_HINT if any(REASON_FUTURE in r["reasons"] for r in rejected) else ""),
            committed,
            failed,
        )


_FUTURE_HINT = (
    f"\n{REASON_FUTURE}: lines dated more than FOOTFALL_FUTURE_TOLERANCE_S after they were read; if the "
    "server that wrote them has a clock running ahead, fix it: once their time has come, the next run reads "
    "them again and accepts them."
)
