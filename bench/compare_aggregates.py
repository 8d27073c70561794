"""Before and after: every aggregate, view and report of two checkouts of footfall, compared.

Usage (from the repo root)::

    git worktree add --detach /tmp/footfall-before <rev>    # the code to compare against
    .venv/bin/python bench/compare_aggregates.py --before /tmp/footfall-before
    .venv/bin/python bench/compare_aggregates.py --before /tmp/footfall-before --cases apache_logs/UTC/humans

Each case is one input (the three real logs of ``../shared/data/real/`` and the demo site of
``demo.traffic``), one ``FOOTFALL_TIMEZONE`` (``UTC``, ``America/New_York``) and one crawler rule
(``FOOTFALL_COUNT_CRAWLERS`` false, ``humans``, or true, ``crawlers``): 16 cases. For a case,
each checkout ingests the input into its own data dir, with the same hash key and the same
secrets dir (so the same daily salts), in a child process whose ``PYTHONPATH`` is that
checkout, then publishes a snapshot and writes, as Parquet, every relation a reader sees:

* every table of the snapshot (aggregates, visitor tables, rollups, dimensions, data quality
  without its times), every view, and every table macro over the whole range of days;
* the report payloads: the daily summary of every day and the visits report of every UTC day,
  without ``source.definitions_version`` (a digest of the SQL, which changes with any edit);
* the one-file report's embedded tables (``make report``), without the snapshot's identity.

The parent compares each relation of the two sides with ``EXCEPT ALL`` both ways, under the
names of this checkout: :data:`RENAMED_TABLES` and :data:`RENAMED_COLUMNS` map the names of the
code before the reorganisation of the warehouse to today's. A relation found on one side only is
listed as such (a new model, say); anything else that differs fails the run (exit status 1).

The child drives either code's ingest: this checkout's ``warehouse.ingest`` package, or the
single module ``warehouse/ingest.py`` the code had before it was split into stages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
LOGS = {
    "apache_logs": REAL / "apache_logs",
    "nginx_logs": REAL / "nginx_logs",
    "wordpress": REAL / "wordpress_access3.log.gz",
}
TIMEZONES = ("UTC", "America/New_York")
HASH_KEY = "compare-aggregates-fixed-key"

# Relation names of the code before the reorganisation -> today's.
RENAMED_TABLES: dict[str, str] = {}
# Today's relation -> {column before: column today}.
RENAMED_COLUMNS: dict[str, dict[str, str]] = {}
# Columns that say when a row was written, not what the data are.
TIME_COLUMNS = {"committed_at", "first_ingested_at", "last_ingested_at", "published_at", "rolled_up_at"}
# Table macros, called over the whole range of days [$start, $end].
MACRO_CALLS = {
    "community_division_breakdown": "community_division_breakdown($start, $end)",
    "cross_division_flows": "cross_division_flows($start, $end)",
    "visitor_stats": "visitor_stats($start, $end)",
    **{f"trends_{g}": f"trends('{g}', $start, $end)" for g in ("hour", "day", "week", "month")},
    "demographics": "demographics($start, $end)",
    "top_countries": "top_countries($start, $end)",
    **{f"growth_{p}": f"growth('{p}', stable_pct := 5)" for p in ("day", "week", "month")},
    **{f"peak_visitors_{g}": f"peak_visitors('{g}')" for g in ("day", "week", "month")},
}


# --------------------------------------------------------------------------- child


def _ingest(env: dict[str, str]):
    """Ingest every configured log once, with the code on ``sys.path``; returns its settings."""
    run_id, end = "compare-run", dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    now = dt.datetime(2029, 12, 31, tzinfo=dt.UTC)  # no line of the inputs is in the future
    from warehouse.settings import Settings

    settings = Settings.from_env(env)
    try:  # the stages of today's warehouse.ingest package
        from warehouse import aggregation
        from warehouse.ingest import commit, parse_job, planning, sources
    except ImportError:  # the single module the ingest was before
        from warehouse import ingest

        units = ingest.discover(settings, now)
        results = [ingest.parse_source(settings, u, run_id, end.date(), now) for u in units]
        ingest.aggregate(settings, ingest.commit(settings, results, run_id, end)["days"])
        return settings
    units = planning.plan_units(settings, sources.find_sources(settings, now))
    job = parse_job.ParseJob.from_settings(settings)
    results = [parse_job.parse_source(job, u, run_id, end.date(), now) for u in units]
    aggregation.aggregate(settings, commit.commit(settings, results, run_id, end)["days"])
    return settings


def _reports(settings, out: Path) -> dict:
    """Every daily summary and one visits report per UTC day, from the pipeline's warehouse."""
    try:
        from warehouse.reporting import reports as report
    except ImportError:  # the code before reporting became a package
        from warehouse import report
    from warehouse import storage

    con = storage.connect(settings.data_dir)
    try:
        names = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        daily = "traffic_daily" if "traffic_daily" in names else "daily_traffic"
        days = [r[0] for r in con.execute(f"select day from {daily} order by day").fetchall()]
        found = {}
        for day in days:
            found[f"daily_summary {day}"] = report.build_daily_summary(con, day, timezone=_timezone(settings))
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            found[f"visits {day}"] = report.build_hourly_report(
                con, start, start + dt.timedelta(days=1), params=_model_params(settings)
            )
    finally:
        con.close()
    for payload in found.values():
        payload["source"].pop("definitions_version")
    return found


def _timezone(settings) -> str:
    return getattr(settings, "timezone", None) or settings.models.timezone


def _model_params(settings):
    return settings.model_params


def _embedded(settings) -> dict:
    from analytics.reader import SnapshotReader
    from analytics.report_data import embedded_data

    reader = SnapshotReader(Path(settings.data_dir))
    try:
        with reader.cursor() as (identity, cur):
            names = {r[0] for r in cur.execute("select table_name from duckdb_tables()").fetchall()}
            daily = "traffic_daily" if "traffic_daily" in names else "daily_traffic"
            start, end = cur.execute(f"select min(day), max(day) from {daily}").fetchone()
            data = embedded_data(cur, identity, start, end)
    finally:
        reader.close()
    data.pop("snapshot")
    return data


def child(config: dict) -> None:
    """Ingest, publish, and write every relation of the snapshot to ``config["out"]``."""
    import duckdb

    env = config["env"]
    os.environ.update(env)
    out = Path(config["out"])
    out.mkdir(parents=True)
    settings = _ingest(env)
    (out / "reports.json").write_text(json.dumps(_reports(settings, out), sort_keys=True, default=str, indent=1))
    (out / "embedded.json").write_text(json.dumps(_embedded(settings), sort_keys=True, default=str, indent=1))
    con = duckdb.connect(str(Path(settings.data_dir) / "analytics.duckdb"), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    tables = [r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()]
    views = [r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()]
    skip = {"snapshot_info", "warehouse_meta", "ingest_files", "ingest_runs", "relation_versions"}
    daily = "traffic_daily" if "traffic_daily" in tables else "daily_traffic"
    start, end = con.execute(f"select min(day), max(day) from {daily}").fetchone()
    queries = {name: f"select * from {name}" for name in [*tables, *views] if name not in skip}
    if start is not None:
        queries |= {name: f"select * from {call}" for name, call in MACRO_CALLS.items()}
    for name, sql in queries.items():
        params = {k: v for k, v in {"start": start, "end": end}.items() if f"${k}" in sql}
        cursor = con.execute(f"select * from ({sql}) limit 0", params)
        kept = [d[0] for d in cursor.description if d[0] not in TIME_COLUMNS]
        cursor.fetchall()
        target = RENAMED_TABLES.get(name, name)
        renames = RENAMED_COLUMNS.get(target, {})
        select = ", ".join(f'"{c}" as "{renames.get(c, c)}"' for c in kept)
        con.sql(f"select {select} from ({sql})", params=params).write_parquet(str(out / f"{target}.parquet"))
    con.close()


# --------------------------------------------------------------------------- parent


def _log_env(log: Path) -> dict[str, str]:
    return {"FOOTFALL_LOG_GLOB": str(log), "FOOTFALL_LOG_FORMAT": "combined"}


def _demo_env(work: Path) -> dict[str, str]:
    """Generate the demo site once (seed 7) and return its settings (demo/traffic.py)."""
    target = work / "demo-input"
    if not target.exists():
        subprocess.run([sys.executable, "-m", "demo.traffic", str(target)], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
    env = {}
    for line in (target / "footfall.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip().strip("'\"")
    return env


def cases(work: Path) -> dict[str, dict[str, str]]:
    """Case name -> the environment of its run (without the data and secrets dirs)."""
    inputs = {name: _log_env(path) for name, path in LOGS.items()}
    inputs["demo"] = _demo_env(work)
    return {
        f"{name}/{tz}/{'crawlers' if crawlers else 'humans'}": {
            **env,
            "FOOTFALL_TIMEZONE": tz,
            "FOOTFALL_COUNT_CRAWLERS": str(crawlers).lower(),
            "FOOTFALL_HASH_KEY": HASH_KEY,
        }  # fmt: skip
        for name, env in inputs.items()
        for tz in TIMEZONES
        for crawlers in (False, True)
    }


def run_side(code: Path, env: dict[str, str], out: Path, data_dir: Path, secrets: Path) -> None:
    config = {"env": {**env, "FOOTFALL_DATA_DIR": str(data_dir), "FOOTFALL_SECRETS_DIR": str(secrets)}, "out": str(out)}
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    child_env["PYTHONPATH"] = str(code)
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)], cwd=code, env=child_env, capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{code}: {done.stderr[-3000:]}")


def compare(before: Path, after: Path) -> list[str]:
    """One line per relation that differs or exists on one side only."""
    import duckdb

    con = duckdb.connect()
    found = []
    names = sorted({p.stem for p in before.glob("*.parquet")} | {p.stem for p in after.glob("*.parquet")})
    for name in names:
        a, b = before / f"{name}.parquet", after / f"{name}.parquet"
        if not a.exists() or not b.exists():
            found.append(f"{name}: only {'after' if b.exists() else 'before'}")
            continue
        cols_a = con.execute(f"describe select * from '{a}'").fetchall()
        cols_b = con.execute(f"describe select * from '{b}'").fetchall()
        if sorted(c[0] for c in cols_a) != sorted(c[0] for c in cols_b):
            found.append(f"{name}: columns {[c[0] for c in cols_a]} before, {[c[0] for c in cols_b]} after")
            continue
        columns = ", ".join(f'"{c}"' for c in sorted(c[0] for c in cols_a))
        only = "select count(*) from (select {c} from '{x}' except all select {c} from '{y}')"
        lost = con.execute(only.format(c=columns, x=a, y=b)).fetchone()[0]
        gained = con.execute(only.format(c=columns, x=b, y=a)).fetchone()[0]
        if lost or gained:
            found.append(f"{name}: {lost} row(s) only before, {gained} only after")
    if json.loads((before / "reports.json").read_text()) != json.loads((after / "reports.json").read_text()):
        found.append("reports.json: differs")
    embedded = [_rows_of(json.loads((side / "embedded.json").read_text())) for side in (before, after)]
    if embedded[0] != embedded[1]:
        tables = sorted(k for k in embedded[0] if embedded[0][k] != embedded[1].get(k))
        found.append(f"embedded.json: differs in {tables}")
    return found


def _rows_of(data: dict) -> dict:
    """The one-file report's embedded tables as sorted rows of values (analytics/report_data.py):
    string indexes and run-length differences decoded, since rows in the same order are not promised."""
    strings = data.pop("strings")
    tables = data.pop("tables")
    decoded = {"": data}
    for name, columns in tables.items():
        values = []
        for column_name, column in columns.items():
            if column_name == "ancestors":
                values.append([[strings[a] for a in v] for v in column["v"]])
            elif column.get("s"):
                values.append([None if v is None else strings[v] for v in column["v"]])
            elif column.get("z"):
                run, position = [], 0
                for step, times in zip(column["v"][::2], column["v"][1::2], strict=True):
                    for _ in range(times):
                        position += step
                        run.append(position)
                values.append(run)
            else:
                values.append(column["v"])
        decoded[name] = sorted((list(row) for row in zip(*values, strict=True)), key=repr)
    return decoded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare against (its tokenizer built)")
    parser.add_argument("--after", type=Path, default=REPO, help="the code compared (default: this checkout)")
    parser.add_argument("--cases", nargs="*", help="case names (default: all 16)")
    parser.add_argument("--work", type=Path, help="keep the data dirs here (default: a temporary dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="footfall-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    failed = 0
    all_cases = cases(work)
    for name in args.cases or all_cases:
        case = work / name.replace("/", "-")
        shutil.rmtree(case, ignore_errors=True)
        secrets = case / "secrets"
        secrets.mkdir(parents=True, mode=0o700)
        for side, code in (("before", args.before), ("after", args.after)):
            run_side(code.resolve(), all_cases[name], case / side / "out", case / side / "data", secrets)
        differences = compare(case / "before" / "out", case / "after" / "out")
        relations = len(list((case / "after" / "out").glob("*.parquet")))
        failed += any("only" not in d or "row(s)" in d for d in differences)
        print(f"{name}: {relations} relations, {'the same' if not differences else '; '.join(differences)}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
