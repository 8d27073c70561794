"""The reports footfall sends, built from the warehouse into the outbox (``warehouse/reporting/outbox.py``).

Two kinds, each with a JSON Schema in ``schemas/`` that every payload is checked against
before it is queued (docs/receivers/contract.md):

``visits`` (every data interval; the shape existing receivers parse)::

    {"timestamp": "<data interval end, ISO-8601 UTC>",
     "reporting_interval_seconds": 1800,
     "data": {"YYYY-MM-DD HH": {"count": N, "paths": {...}, "user_agents": {...},
                               "countries": {...}}}}

Hour buckets are wall-clock hours in FOOTFALL_TIMEZONE (UTC by default). ``count`` is page
views (docs/analysts/metrics.md); ``paths``, ``user_agents`` (first 100 characters) and
``countries`` count the same page views. Each map
lists its ``top_n`` most frequent keys; the rest is summed under ``"(other)"``.

``daily_summary`` (one day, wall clock in ``FOOTFALL_TIMEZONE``): traffic totals, status
classes and top pages from the ``daily_traffic``, ``status_daily`` and ``page_daily`` aggregates.

Both carry ``source``: the newest event's time, the newest ingest run and the version of the
metric definitions when the report was built (:func:`warehouse.snapshot.source_identity`).

A report is identified by ``<kind>-<start>-<end>``, which is also its ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path

import duckdb

from transforms.models import catalogue
from warehouse import clock, snapshot, storage
from warehouse.ingest.sources import ingested_through
from warehouse.reporting import outbox
from warehouse.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

# In the repository the schemas are schemas/; an installed wheel carries them as package data,
# warehouse/report_schemas (pyproject.toml).
_INSTALLED_SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "report_schemas"
SCHEMAS_DIR = _INSTALLED_SCHEMAS_DIR if _INSTALLED_SCHEMAS_DIR.is_dir() else REPO_ROOT / "schemas"
OTHER = "(other)"
# Paths longer than this are counted under "(other)", never listed: with top_n keys per map,
# this bounds a payload whatever the traffic (a request line can be 8 KB long).
MAX_PATH_CHARS = 256
SUMMARY_VERSION = 1


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def top_counts(counts: Mapping[str, int], n: int, *, max_key_chars: int | None = None) -> dict[str, int]:
    """The ``n`` largest entries of ``counts`` (count descending, then key), the rest summed.

    Keys longer than ``max_key_chars``, and a key that is literally ``"(other)"``, are never
    listed on their own. Whatever is not listed is summed under ``"(other)"``, the last key, so
    the values still add up to ``sum(counts.values())``. Without anything left over the result
    is all of ``counts``, sorted, with no ``"(other)"`` key.
    """
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = [
        (key, value) for key, value in ordered if key != OTHER and (max_key_chars is None or len(key) <= max_key_chars)
    ][:n]
    if len(listed) == len(ordered):
        return dict(listed)
    return {**dict(listed), OTHER: sum(counts.values()) - sum(v for _, v in listed)}


def _iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _days(start: dt.datetime, end: dt.datetime, timezone: str = "UTC") -> list[dt.date]:
    """The days (wall-clock in ``timezone``) that ``[start, end)`` touches."""
    zone = zoneinfo.ZoneInfo(timezone)
    first, last = start.astimezone(zone).date(), (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def build_hourly_report(
    con: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    top_n: int = 50,
    params: catalogue.ModelParams | None = None,
) -> dict:
    """Build the ``visits`` payload for events with ``start <= ts < end`` (aware datetimes).

    Hour buckets are wall-clock hours in ``params.timezone`` (FOOTFALL_TIMEZONE), and page
    views follow the same counting rules as the aggregates (crawlers excluded by default).

    ``reporting_interval_seconds`` is the length of ``[start, end)``. ``paths``,
    ``user_agents`` and ``countries`` keep their ``top_n`` largest entries (paths of at most
    :data:`MAX_PATH_CHARS` characters) and sum the rest under ``"(other)"``.

    Deterministic: the same interval and warehouse give the same payload, byte for byte
    once serialised with :func:`dump_payload`. ``source`` says where the numbers come from
    (:func:`warehouse.snapshot.source_identity`).
    """
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    params = params or catalogue.ModelParams()
    values = {
        **catalogue.model_params(_days(start, end, params.timezone), params),
        "start": start,
        "end": end,
    }
    rows = catalogue.run_model(
        con, f"select * from ({catalogue.model_sql('hourly_traffic')}) order by hour", values
    ).fetchall()
    data = {}
    for hour, page_views, paths, user_agents, countries in rows:
        data[hour.strftime("%Y-%m-%d %H")] = {
            "count": page_views,
            "paths": top_counts(paths, top_n, max_key_chars=MAX_PATH_CHARS),
            "user_agents": top_counts(user_agents, top_n),
            "countries": top_counts(countries, top_n),
        }
    return {
        "timestamp": _iso_z(end),
        "reporting_interval_seconds": int((end - start).total_seconds()),
        "data": data,
        # The snapshots' identity: a number in a report can be traced to the data behind it.
        "source": snapshot.source_identity(con),
    }


def day_bounds(day: dt.date, timezone: str = "UTC") -> tuple[dt.datetime, dt.datetime]:
    """The instants (UTC) at which ``day`` starts and ends on the wall clock of ``timezone``:
    its midnight and the next one (23 or 25 hours apart on daylight-saving days)."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end


def build_daily_summary(
    con: duckdb.DuckDBPyConnection, day: dt.date, *, top_n: int = 50, timezone: str = "UTC"
) -> dict:
    """Build the ``daily_summary`` payload of one day from the aggregate tables.

    ``day`` is a date on the wall clock of ``timezone``, the ``FOOTFALL_TIMEZONE`` the
    aggregate tables were built with; ``timestamp`` and ``reporting_interval_seconds`` give
    the day's end and length as instants (see :func:`day_bounds`).

    ``traffic`` comes from ``daily_traffic`` (zeros when the day has no row), ``status_classes``
    from ``status_daily`` (only classes with hits), ``top_pages`` are the ``top_n`` paths of
    ``page_daily`` by page views (paths of at most :data:`MAX_PATH_CHARS` characters), and
    ``other_pages`` counts the paths and page views not listed. The optional sections
    ``communities`` and ``cross_division_flows`` (docs/analysts/communities.md) are present when the
    day has community page views. ``source`` says where the numbers come from
    (:func:`warehouse.snapshot.source_identity`).
    """
    start, end = day_bounds(day, timezone)
    row = con.execute(
        "select hits, page_views, visitors, bytes from daily_traffic where day = ?", [day]
    ).fetchone() or (0, 0, 0, 0)
    classes = con.execute(
        "select status // 100, sum(hits)::bigint from status_daily where day = ? group by 1 order by 1", [day]
    ).fetchall()
    pages = con.execute(
        "select path, page_views, visitors from page_daily where day = ? and path <> ? and length(path) <= ? "
        "order by page_views desc, path limit ?",
        [day, OTHER, MAX_PATH_CHARS, top_n],
    ).fetchall()
    paths, page_views = con.execute(
        "select count(*), coalesce(sum(page_views), 0)::bigint from page_daily where day = ?", [day]
    ).fetchone()
    summary = {
        "kind": "daily_summary",
        "version": SUMMARY_VERSION,
        "day": day.isoformat(),
        "timezone": timezone,
        "timestamp": _iso_z(end),
        "reporting_interval_seconds": int((end - start).total_seconds()),
        "traffic": dict(zip(("hits", "page_views", "visitors", "bytes"), row, strict=True)),
        "status_classes": {f"{cls}xx": hits for cls, hits in classes},
        "top_pages": [{"path": p, "page_views": pv, "visitors": v} for p, pv, v in pages],
        "other_pages": {"paths": paths - len(pages), "page_views": page_views - sum(p[1] for p in pages)},
    }
    summary.update(_community_sections(con, day, top_n))
    summary["source"] = snapshot.source_identity(con)
    return summary


_COMMUNITY_COLUMNS = (
    "community_slug, community_id, division_id, visitors, signed_in_visitors, anonymous_visitors, page_views, "
    "same_division_visitors, cross_division_visitors, unknown_division_visitors, cross_division_pct"
)


def _community_sections(con: duckdb.DuckDBPyConnection, day: dt.date, top_n: int) -> dict:
    """``communities`` (top ``top_n`` of ``community_daily`` by visitors) and
    ``cross_division_flows`` (top ``top_n`` of the day's flows), only for a day with
    community page views: sites without communities keep the payload they had."""
    cursor = con.execute(
        f"select {_COMMUNITY_COLUMNS} from community_daily where day = ? order by visitors desc, community_slug "
        "limit ?",
        [day, top_n],
    )
    names = [d[0] for d in cursor.description]
    communities = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if not communities:
        return {}
    flows = con.execute(
        "select from_division_id, to_division_id, visitors, page_views from cross_division_flows(?, ?) "
        "order by visitors desc, page_views desc, from_division_id, to_division_id limit ?",
        [day, day, top_n],
    ).fetchall()
    return {
        "communities": communities,
        "cross_division_flows": [
            {"from_division_id": f, "to_division_id": t, "visitors": v, "page_views": pv} for f, t, v, pv in flows
        ],
    }


def ingested_through_end(settings: Settings, end: dt.datetime, now: dt.datetime | None = None) -> bool:
    """True once an ingest run whose data interval ends at or after ``end`` has committed:
    then a report of an interval ending at ``end`` sees the lines logged inside it.

    Raises:
        warehouse.clock.IntervalInFuture: ``end`` is more than FOOTFALL_FUTURE_TOLERANCE_S after
            ``now`` (default the real time): waiting for it would be in vain.
    """
    clock.check_interval_can_end(end, now or clock.utcnow(), settings.future_tolerance_s)
    through = ingested_through(settings)
    return through is not None and through >= end


def report_ready(
    settings: Settings,
    data_interval_start: dt.datetime | None,
    data_interval_end: dt.datetime | None,
    length: dt.timedelta,
) -> bool:
    """The poke of the report DAGs' ``wait_for_ingest`` sensors: True once an ingest run has
    read through the end of the run's report interval (:func:`warehouse.manual_runs.report_interval`,
    of ``length`` for a run without a logical date).

    Raises:
        airflow.sdk.exceptions.AirflowFailException: waiting would not help (an interval ending
            after the clock's tolerance, or a run without a logical date before any ingest): the
            task fails at once, without retries, with the reason.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from warehouse.manual_runs import NothingIngested, report_interval

    try:
        _, end = report_interval(settings, data_interval_start, data_interval_end, length)
        return ingested_through_end(settings, end)
    except (clock.IntervalInFuture, NothingIngested) as exc:
        raise AirflowFailException(str(exc)) from exc


def dump_payload(payload: dict) -> bytes:
    """Serialise a payload the same way every time (compact UTF-8 JSON, no NaN)."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


@functools.cache
def _validator(kind: str):
    import jsonschema

    schema = json.loads((SCHEMAS_DIR / f"{kind}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_payload(kind: str, payload: dict) -> None:
    """Check ``payload`` against ``schemas/<kind>.schema.json``.

    Raises:
        jsonschema.ValidationError: the payload does not match (a bug: nothing is queued).
    """
    _validator(kind).validate(payload)


def report_id(kind: str, start: dt.datetime, end: dt.datetime) -> str:
    """The id and ``Idempotency-Key`` of a report, e.g. ``visits-20150520T100000Z-20150520T103000Z``."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{kind}-{start.astimezone(dt.UTC):{fmt}}-{end.astimezone(dt.UTC):{fmt}}"


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _queue(
    settings: Settings,
    kind: str,
    intervals: list[tuple[dt.datetime, dt.datetime]],
    build: Callable[[duckdb.DuckDBPyConnection, dt.datetime, dt.datetime], dict],
    now: dt.datetime,
) -> list[str]:
    """Build one report per interval, validate it and queue it in the outbox (one connection)."""
    ids, files = [], []
    con = storage.connect(settings.data_dir)
    try:
        for start, end in intervals:
            payload = build(con, start, end)
            validate_payload(kind, payload)
            rid = report_id(kind, start, end)
            outcome = outbox.enqueue(con, rid, kind, start, end, dump_payload(payload), now=now)
            log.info("report %s: %s (%s)", rid, outcome, kind)
            ids.append(rid)
            if not settings.visit_tracking_enabled:
                files.append((rid, outbox.payload_of(con, rid)))
    finally:
        con.close()
    # Reporting off: the report also goes to the outbox folder, as it always has.
    for rid, body in files:
        target = write_atomic(settings.outbox_dir / f"{rid}.json", body)
        log.info("reporting disabled; report %s also written to %s", rid, target)
    return ids


def build_visits_report(
    settings: Settings, start: dt.datetime, end: dt.datetime, *, clock: Callable[[], dt.datetime] = _utcnow
) -> str:
    """Build the ``visits`` report of ``[start, end)`` into the outbox; returns its id.

    Idempotent per interval: building it again replaces the payload of a report that is not
    delivered yet (same bytes unless new events were ingested) and leaves a delivered one
    alone. With reporting disabled the payload is also written to ``outbox/<id>.json``.
    """
    return _queue(
        settings, "visits", [(start, end)],
        lambda con, s, e: build_hourly_report(con, s, e, top_n=settings.report_top_n, params=settings.model_params),
        clock(),
    )[0]  # fmt: skip


def summary_days(start: dt.datetime, end: dt.datetime, timezone: str = "UTC") -> list[dt.date]:
    """The days (wall clock in ``timezone``) whose end, the following midnight there, lies in
    ``(start, end]``.

    A daily run's data interval ``[D 00:00Z, D+1 00:00Z)`` gives ``[D]`` in UTC; in another
    zone it gives the local day that ends inside it (the day before, west of UTC). Consecutive
    intervals of any length summarise every day exactly once, and only once it has ended.
    """
    day = start.astimezone(zoneinfo.ZoneInfo(timezone)).date()
    days = []
    while (day_end := day_bounds(day, timezone)[1]) <= end:
        if day_end > start:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def build_daily_summaries(
    settings: Settings, start: dt.datetime, end: dt.datetime, *, clock: Callable[[], dt.datetime] = _utcnow
) -> list[str]:
    """Build the ``daily_summary`` of every day :func:`summary_days` gives (in
    ``FOOTFALL_TIMEZONE``) into the outbox.

    Returns the report ids. Idempotent per day, like :func:`build_visits_report`.
    """
    tz = settings.timezone
    days = {day_bounds(day, tz): day for day in summary_days(start, end, tz)}
    if not days:
        return []
    return _queue(
        settings, "daily_summary", list(days),
        lambda con, s, e: build_daily_summary(con, days[s, e], top_n=settings.report_top_n, timezone=tz), clock(),
    )  # fmt: skip
