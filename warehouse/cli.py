"""Command line for people and the Makefile: ``python -m warehouse.cli <command>``.

Commands:
    summary             print what the warehouse holds (the end of ``make run``)
    query SQL           run one SQL statement on the warehouse, read-only, and print the result
    check               validate the configuration (environment); exit 2 with the reason if wrong
    reingest PATH       make the next ingest run read a log file again from the start
    rebuild [FROM TO]   recompute every aggregate table for the days FROM..TO (ISO dates, in
                        FOOTFALL_TIMEZONE; default every day with events), e.g. after
                        changing FOOTFALL_TIMEZONE or FOOTFALL_COUNT_CRAWLERS; then publish
    publish             publish a snapshot (analytics.duckdb) of the warehouse as it is now
    retention [--now ISO]
                        run the retention steps now (what footfall_retention does) with the
                        clock at ISO (default: now) and print what was deleted and rolled up
    last-interval-end   print the end of the report interval holding the newest event (or
                        the last one that has ended, never after the clock), ISO-8601, for
                        ``airflow dags test footfall_report <date>``
    outbox list|show|retry|discard|deliver
                        the report outbox (``python -m warehouse.cli outbox --help``)
    export VIEW --from DAY --to DAY [--community SLUG] [--grain G] [--output FILE [--force]]
                        one view as CSV (``python -m warehouse.cli export --help``)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from warehouse import snapshot, storage
from warehouse.settings import Settings


def reader(settings: Settings):
    """The connection of every read command: the published snapshot (``analytics.duckdb``),
    never the file the pipeline writes, so reading never blocks a task (warehouse/snapshot.py)."""
    return snapshot.connect(settings.data_dir)


def last_interval_end(settings: Settings, now: dt.datetime | None = None) -> dt.datetime | None:
    """End of the report interval holding the newest event, never after the clock
    (:func:`warehouse.clock.report_interval_end`); ``now`` defaults to the real time."""
    from warehouse import clock

    con = reader(settings)
    try:
        return clock.report_interval_end(con, settings, now or clock.utcnow())
    finally:
        con.close()


def summary(settings: Settings, out=sys.stdout) -> None:
    """Print files and lines read, quarantine reasons, traffic per day, top pages, outputs."""
    con = reader(settings)
    try:
        q = lambda sql, *p: con.execute(sql, list(p)).fetchall()  # noqa: E731
        ((sources, read, parsed, quarantined),) = q(
            "select count(distinct source_id), coalesce(sum(lines_read), 0), coalesce(sum(lines_parsed), 0), "
            "coalesce(sum(lines_quarantined), 0) from data_quality where not rejected"  # rejected: read again later
        )
        reasons = q("select reason, count(*) n from quarantine group by all order by n desc, reason limit 5")
        days = q("select day, hits, page_views, visitors, visits, bytes from daily_traffic order by day")
        (crawler_hits,) = q("select coalesce(sum(hits), 0) from bots_daily")[0]
        crawlers = q("select crawler_name, sum(hits) n from bots_daily group by all order by n desc, 1 limit 3")
        countries = q(
            "select country_code, sum(page_views) n from countries_daily group by all order by n desc, 1 limit 5"
        )
        top = q(
            "select path, sum(page_views) pv, sum(visitors) v from page_daily"
            " group by all order by pv desc, path limit 10"
        )
        statuses = q("select status // 100 || 'xx', sum(hits) from status_daily group by all order by 1")
    finally:
        con.close()
    w = out.write
    w("footfall summary\n================\n")
    w(f"log files read:      {sources}\n")
    w(f"lines read:          {read:,}\n")
    w(f"lines parsed:        {parsed:,}\n")
    w(f"lines quarantined:   {quarantined:,}\n")
    for reason, n in reasons:
        w(f"    {reason:<24}{n:,}\n")
    w(f"hits:                {sum(d[1] for d in days):,}\n")
    w(f"hits by status:      {', '.join(f'{s} {n:,}' for s, n in statuses)}\n")
    w(f"crawler hits:        {crawler_hits:,} (top: {', '.join(f'{c} {n:,}' for c, n in crawlers) or 'none'})\n")
    crawler_rule = "included" if settings.count_crawlers else "excluded"
    w(f"page views:          {sum(d[2] for d in days):,} (crawlers {crawler_rule})\n")
    w(f"unique visitors:     {sum(d[3] for d in days):,} (sum of daily unique visitors)\n")
    w(f"visits:              {sum(d[4] for d in days):,}\n")
    w(f"top countries:       {', '.join(f'{c} {n:,}' for c, n in countries) or 'none'} (page views)\n")
    w(f"\nper day ({settings.timezone})".ljust(24) + "hits   page views   visitors     visits            bytes\n")
    for day, hits, pv, vis, visits, nbytes in days:
        w(f"  {day}  {hits:>10,}  {pv:>11,}  {vis:>9,}  {visits:>9,}  {nbytes:>15,}\n")
    w("\ntop pages                                            page views   visitors*\n")
    for path, pv, vis in top:
        w(f"  {path[:50]:<50}  {pv:>10,}  {vis:>9,}\n")
    w("  * summed over days\n")
    w("\noutputs\n")
    w(f"  warehouse:   {settings.warehouse_path} (the pipeline's; read {snapshot.snapshot_path(settings.data_dir)})\n")
    w(f"  events:      {settings.events_dir}/event_date=*/\n")
    w(f"  quarantine:  {settings.quarantine_dir}/\n")
    reports = sorted(settings.outbox_dir.glob("*.json")) if settings.outbox_dir.exists() else []
    w(
        f"  outbox:      {settings.outbox_dir}/ ({len(reports)} report(s)"
        + (f", newest {reports[-1].name})\n" if reports else ")\n")
    )
    w('\nquery it:  .venv/bin/python -m warehouse.cli query "select * from daily_traffic"\n')


OUTBOX_HELP = """The report outbox (table report_outbox; docs/reporting.md).

  list [--status S] [--kind K] [--limit N]   the newest reports, oldest first, and counts per state
  show ID                                    one report: state, attempts, last error, payload
  retry ID                                   a failed (or discarded) report goes back to pending, due now
  discard ID                                 give up a failed or pending report: never sent
  deliver                                    one delivery run now, in this process (what footfall_delivery does)

retry, discard and deliver open the warehouse for writing: they fail while an Airflow task
holds it (try again in a moment).
"""


def outbox_command(argv: list[str], settings: Settings | None = None, out=sys.stdout, clock=None) -> int:
    """``python -m warehouse.cli outbox ...``: inspect the outbox and unblock it.

    ``clock`` (a callable returning an aware datetime) replaces the real time, for tests.
    Returns the exit status: 1 when a report is refused or a command does not apply.
    """
    import json

    from warehouse import outbox, publish

    parser = argparse.ArgumentParser(
        prog="python -m warehouse.cli outbox",
        description=OUTBOX_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["list", "show", "retry", "discard", "deliver"])
    parser.add_argument("report_id", nargs="?")
    parser.add_argument("--status", choices=outbox.STATUSES)
    parser.add_argument("--kind", choices=outbox.KINDS)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)
    if args.action in ("show", "retry", "discard") and not args.report_id:
        parser.error(f"{args.action} needs a report id (see `outbox list`)")
    settings = settings or Settings.from_env()
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    now = clock()
    if args.action == "deliver":
        if not settings.visit_tracking_enabled:
            print("reporting is disabled (VISIT_TRACKING_ENABLED): nothing is sent", file=sys.stderr)
            return 1
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        try:
            summary = publish.deliver_due(settings, clock=clock)
        except outbox.DeliveryRejected as exc:
            print(exc, file=sys.stderr)
            return 1
        out.write(f"{json.dumps(summary)}\n")
        return 0
    read_only = args.action in ("list", "show")
    con = storage.connect(settings.data_dir, read_only=read_only)
    try:
        if args.action == "list":
            rows = outbox.list_reports(con, status=args.status, kind=args.kind, limit=args.limit)
            for r in rows:
                when = r["delivered_at"] if r["status"] == "delivered" else r["next_attempt_at"]
                out.write(
                    f"{r['report_id']:<52} {r['status']:<9} attempts={r['attempts']:<3} "
                    f"{when.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ} {r['payload_bytes']:>7} B"
                    + (f"  last: {r['last_error'][:80]}" if r["last_error"] and r["status"] != "delivered" else "")
                    + "\n"
                )
            counts = outbox.counts_by_status(con)
            out.write("  ".join(f"{k}/{s}: {n}" for (k, s), n in sorted(counts.items())) + "\n")
        elif args.action == "show":
            row = outbox.get_report(con, args.report_id)
            for key, value in row.items():
                if key != "payload":
                    out.write(f"{key}: {value}\n")
            out.write(f"payload: {row['payload']}\n")
        elif args.action == "retry":
            before = outbox.retry(con, args.report_id, now=now)
            out.write(f"{args.report_id}: {before} -> pending; the next delivery run sends it\n")
        else:
            before = outbox.discard(con, args.report_id, now=now)
            out.write(f"{args.report_id}: {before} -> discarded; it will not be sent\n")
    except outbox.OutboxError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        con.close()
    return 0


def rebuild(settings: Settings, first: str | None = None, last: str | None = None, out=None) -> int:
    """Recompute the aggregates of the days ``first``..``last`` (ISO dates, inclusive), or of
    every day with events; returns how many days were rebuilt. One transaction.

    Days whose raw events retention purged are skipped (their aggregates are final) and
    listed on ``out``."""
    con = storage.connect(settings.data_dir)
    try:
        tz = settings.timezone
        if first:
            start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last or first)
            days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        else:
            # Days already aggregated too: under another time zone or rule they may have no events now.
            rows = con.execute(
                "select distinct cast(timezone(?, ts) as date) from events union select day from daily_traffic", [tz]
            ).fetchall()
            days = [r[0] for r in rows]
        frozen = sorted(storage.frozen_days(con, days, tz))
        if frozen:
            (out or sys.stdout).write(
                f"skipped {len(frozen)} day(s) whose raw events retention purged ({frozen[0]} .. {frozen[-1]}): "
                "their aggregates are kept as they are\n"
            )
        rebuilt = storage.rebuild_aggregates(con, days, settings.model_params)
        snapshot.publish(con, settings, "rebuild")
        return rebuilt
    finally:
        con.close()


def export_command(argv: list[str]) -> int:
    """``export VIEW --from DAY --to DAY [--community SLUG] [--grain G] [--output FILE [--force]]``."""
    from warehouse.export import EXPORTS, ExportError, export_csv

    parser = argparse.ArgumentParser(
        prog="python -m warehouse.cli export",
        description="Write one view of the warehouse as CSV (docs/communities.md, docs/metrics.md).",
    )
    parser.add_argument("view", choices=sorted(EXPORTS), metavar="VIEW", help=", ".join(sorted(EXPORTS)))
    parser.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat, help="first day, ISO")
    parser.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat, help="last day, ISO")
    parser.add_argument("--community", help="only this community_slug (views with communities)")
    parser.add_argument("--grain", help="hour, day, week or month (trends, peak_visitors)")
    parser.add_argument("--output", type=Path, help="CSV file to write (default: standard output)")
    parser.add_argument("--force", action="store_true", help="replace the --output file if it exists")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    con = reader(settings)
    try:
        rows = export_csv(
            con, args.view, args.start, args.end, community=args.community, grain=args.grain, output=args.output,
            force=args.force, keep_out_of=(settings.data_dir, settings.secrets_dir),
        )  # fmt: skip
    except ExportError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        con.close()
    if args.output is not None:
        print(f"{rows} row(s) of {args.view} written to {args.output}", file=sys.stderr)
    return 0


def retention_command(settings: Settings, now: str | None, out=None) -> None:
    """Run every retention step (:func:`warehouse.retention.run`) and print what it did.

    Args:
        now: ISO-8601 clock (a date means its midnight UTC; no offset means UTC); default the
            real time. Files orphaned by crashes are judged by real time whatever ``now`` is.
    """
    from warehouse import retention

    wall_now = dt.datetime.now(dt.UTC)
    clock = wall_now
    if now:
        clock = dt.datetime.fromisoformat(now)
        clock = clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)
    cut = retention.Cutoffs.at(settings, clock)
    done = retention.run(settings, clock, wall_now)
    raw, rolled, aggregates, sweep = done["purge_raw"], done["roll_up"], done["purge_aggregates"], done["sweep_orphans"]
    w = (out or sys.stdout).write
    w(f"retention at {clock.isoformat()}\n")
    w(f"  rebuilt pending:    {done['rebuild_pending']} day(s)\n")
    w(f"  raw events:         before {cut.events} (UTC): ")
    if raw["deferred"]:
        w(f"deferred, {raw['deferred']}\n")
    else:
        w(f"{raw['event_rows']:,} event(s) in {raw['event_files']} file(s), partitions {raw['event_partitions']}\n")
    w(f"  quarantine:         before {cut.quarantine} (UTC): {raw['quarantine_rows']:,} line(s) in ")
    w(f"{raw['quarantine_files']} file(s)\n")
    w(f"  rolled up:          {len(rolled['days'])} day(s) {rolled['days']}")
    w(f"; waiting for their raw events to go: {rolled['waiting']}\n" if rolled["waiting"] else "\n")
    w(f"  daily aggregates:   before {cut.aggregates} ({settings.timezone}): ")
    deleted = ", ".join(f"{t} {n:,}" for t, n in aggregates["rows"].items() if n)
    w(f"rows deleted: {deleted}\n" if deleted else "nothing deleted\n")
    w(f"  orphans swept:      {len(sweep['files'])} file(s), {len(sweep['staging'])} staging dir(s)\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["outbox"]:
        return outbox_command(argv[1:])
    if argv[:1] == ["export"]:
        return export_command(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m warehouse.cli", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=[
            "summary",
            "last-interval-end",
            "query",
            "check",
            "reingest",
            "rebuild",
            "retention",
            "outbox",
            "export",
            "publish",
        ],
    )
    parser.add_argument(
        "sql", nargs="?", help="the statement, for query; the log file, for reingest; FROM, for rebuild"
    )
    parser.add_argument("until", nargs="?", help="TO, for rebuild")
    parser.add_argument("--now", help="retention: the clock, ISO-8601 (default: now)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "check":
            from transforms.geoip import GeoIP

            GeoIP(settings.geoip_database)  # an unreadable database fails here, not mid-ingest
            settings.check_reporting()
            if settings.dimensions_dir is not None:
                from transforms.privacy import KeyStore
                from warehouse.dimensions import read_dimensions

                # Validated in full now; a bad file would otherwise fail the first aggregation.
                read_dimensions(settings.dimensions_dir, KeyStore(settings.secrets_dir, settings.hash_key).hash_key())
    except ValueError as exc:  # ConfigError, LogFormatError, GeoIPConfigError, DimensionError
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"configuration OK: logs {', '.join(settings.log_globs)}; data dir {settings.data_dir}")
        return 0
    if args.command == "summary":
        summary(settings)
    elif args.command == "rebuild":
        print(f"rebuilt {rebuild(settings, args.sql, args.until)} day(s)")
    elif args.command == "publish":
        con = storage.connect(settings.data_dir)
        try:
            info = snapshot.publish(con, settings, "publish")
        finally:
            con.close()
        print(f"published snapshot generation {info.generation} ({info.path}), data as of {info.data_as_of}")
    elif args.command == "retention":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        retention_command(settings, args.now)
    elif args.command == "reingest":
        from warehouse.ingest import mark_for_reingest

        if not args.sql:
            parser.error("reingest needs the path of a log file")
        source = mark_for_reingest(settings, Path(args.sql))
        if source is None:
            print(f"{args.sql} matches no ingested source: the next run reads it anyway", file=sys.stderr)
            return 1
        print(f"source {source} will be read again from the start by the next footfall_ingest run")
    elif args.command == "query":
        if not args.sql:
            parser.error("query needs a SQL statement")
        con = reader(settings)
        try:
            con.sql(args.sql).show(max_width=200, max_rows=200)
        finally:
            con.close()
    else:
        end = last_interval_end(settings)
        if end is None:
            print("no events in the warehouse", file=sys.stderr)
            return 1
        print(end.isoformat())
    return 0


if __name__ == "__main__":
    sys.exit(main())
