"""``summary`` (the end of ``make run``) and ``last-interval-end``."""

from __future__ import annotations

import datetime as dt
import sys

import duckdb

from warehouse.cli.app import app, load_settings, read_only_connection
from warehouse.settings import Settings
from warehouse.snapshot import snapshot_path


def last_interval_end(settings: Settings, now: dt.datetime | None = None) -> dt.datetime | None:
    """End of the report interval holding the newest event, never after the clock
    (:func:`warehouse.clock.report_interval_end`); ``now`` defaults to the real time."""
    from warehouse import clock

    con = read_only_connection(settings)
    try:
        return clock.report_interval_end(con, settings, now or clock.utcnow())
    finally:
        con.close()


@app.command("last-interval-end", short_help="end of the report interval of the newest event")
def last_interval_end_command() -> int:
    """Print the end of the report interval holding the newest event (ISO-8601, UTC), or of the
    last interval that has ended when that one has not: never after the clock.

    It is the logical date to give footfall_report for the newest data, for example
    `airflow dags test footfall_report <date>`. Exit 1 when the warehouse has no events.
    """
    end = last_interval_end(load_settings())
    if end is None:
        print("no events in the warehouse: nothing has been ingested (or retention deleted it)", file=sys.stderr)
        return 1
    print(end.isoformat())
    return 0


def why_no_hits(con: duckdb.DuckDBPyConnection) -> str:
    """Why lines were parsed but no aggregate counts a hit: said, so that ``lines parsed: N``
    never stands beside ``hits: 0`` unexplained. Reads a snapshot (which has no
    ``aggregates_pending``) or the warehouse."""
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    pending = 0
    if "aggregates_pending" in tables:
        (pending,) = con.execute("select count(*) from aggregates_pending").fetchone()
    stale = con.execute("select value from warehouse_meta where key = 'aggregates_stale'").fetchone() == ("true",)
    if pending:
        return (
            f"the aggregates are not rebuilt yet ({pending} UTC day(s) pending); the next footfall_ingest run "
            "rebuilds them, or run python -m warehouse.cli rebuild"
        )
    (purged,) = con.execute("select count(*) from retention_purged_days").fetchone()
    if purged and not stale:
        return f"retention deleted the raw events of {purged} day(s) and no aggregate holds them"
    return (
        "the aggregates of these lines are not built yet: the next footfall_ingest run builds them, "
        "or run python -m warehouse.cli rebuild"
    )


def summary(settings: Settings, con: duckdb.DuckDBPyConnection, out=None) -> None:
    """Print files and lines read, quarantine reasons, traffic per day, top pages, outputs.

    Totals are the daily aggregates' plus the monthly rollups' of days whose daily rows
    retention deleted (said when there are any).
    """
    q = lambda sql, *p: con.execute(sql, list(p)).fetchall()  # noqa: E731
    ((sources, read, parsed, quarantined),) = q(
        "select count(distinct source_id), coalesce(sum(lines_read), 0), coalesce(sum(lines_parsed), 0), "
        "coalesce(sum(lines_quarantined), 0) from data_quality where not rejected"  # rejected: read again later
    )
    reasons = q("select reason, count(*) n from quarantine group by all order by n desc, reason limit 5")
    days = q("select day, hits, page_views, visitors, visits, bytes from daily_traffic order by day")
    ((rolled_days, rolled_hits, rolled_pv, rolled_visitors, rolled_visits),) = q(
        "select coalesce(sum(days), 0), coalesce(sum(hits), 0), coalesce(sum(page_views), 0),"
        " coalesce(sum(visitor_days), 0), coalesce(sum(visits), 0) from traffic_monthly"
    )
    (crawler_hits,) = q("select coalesce(sum(hits), 0) from bots_daily")[0]
    crawlers = q("select crawler_name, sum(hits) n from bots_daily group by all order by n desc, 1 limit 3")
    countries = q("select country_code, sum(page_views) n from countries_daily group by all order by n desc, 1 limit 5")
    top = q(
        "select path, sum(page_views) pv, sum(visitors) v from page_daily group by all order by pv desc, path limit 10"
    )
    statuses = q("select status // 100 || 'xx', sum(hits) from status_daily group by all order by 1")
    hits = sum(d[1] for d in days) + rolled_hits
    note = ""
    if rolled_days:
        note = f" ({rolled_hits:,} of them in the monthly rollups of {rolled_days} day(s) whose daily rows are deleted)"
    elif parsed and not hits:
        note = f" (why: {why_no_hits(con)})"
    w = (out or sys.stdout).write
    w("footfall summary\n================\n")
    w(f"log files read:      {sources}\n")
    w(f"lines read:          {read:,}\n")
    w(f"lines parsed:        {parsed:,}\n")
    w(f"lines quarantined:   {quarantined:,}\n")
    for reason, n in reasons:
        w(f"    {reason:<24}{n:,}\n")
    w(f"hits:                {hits:,}{note}\n")
    w(f"hits by status:      {', '.join(f'{s} {n:,}' for s, n in statuses)}\n")
    w(f"crawler hits:        {crawler_hits:,} (top: {', '.join(f'{c} {n:,}' for c, n in crawlers) or 'none'})\n")
    crawler_rule = "included" if settings.count_crawlers else "excluded"
    w(f"page views:          {sum(d[2] for d in days) + rolled_pv:,} (crawlers {crawler_rule})\n")
    w(f"unique visitors:     {sum(d[3] for d in days) + rolled_visitors:,} (sum of daily unique visitors)\n")
    w(f"visits:              {sum(d[4] for d in days) + rolled_visits:,}\n")
    w(f"top countries:       {', '.join(f'{c} {n:,}' for c, n in countries) or 'none'} (page views)\n")
    w(f"\nper day ({settings.timezone})".ljust(24) + "hits   page views   visitors     visits            bytes\n")
    for day, day_hits, pv, vis, visits, nbytes in days:
        w(f"  {day}  {day_hits:>10,}  {pv:>11,}  {vis:>9,}  {visits:>9,}  {nbytes:>15,}\n")
    if rolled_days:
        w(f"  and {rolled_days} earlier day(s) in traffic_monthly\n")
    w("\ntop pages                                            page views   visitors*\n")
    for path, pv, vis in top:
        w(f"  {path[:50]:<50}  {pv:>10,}  {vis:>9,}\n")
    w("  * summed over days\n")
    w("\noutputs\n")
    w(f"  warehouse:   {settings.warehouse_path} (the pipeline's; read {snapshot_path(settings.data_dir)})\n")
    w(f"  events:      {settings.events_dir}/event_date=*/\n")
    w(f"  quarantine:  {settings.quarantine_dir}/\n")
    reports = sorted(settings.outbox_dir.glob("*.json")) if settings.outbox_dir.exists() else []
    w(
        f"  outbox:      {settings.outbox_dir}/ ({len(reports)} report(s)"
        + (f", newest {reports[-1].name})\n" if reports else ")\n")
    )
    w('\nquery it:  .venv/bin/python -m warehouse.cli query "select * from daily_traffic"\n')


@app.command("summary", short_help="what the warehouse holds (the end of make run)")
def summary_command() -> int:
    """Print what the warehouse holds: files and lines read, quarantine reasons, hits, page views,
    unique visitors and visits, per day, top pages and countries, and where the outputs are."""
    settings = load_settings()
    con = read_only_connection(settings)
    try:
        summary(settings, con)
    finally:
        con.close()
    return 0
