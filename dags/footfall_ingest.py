"""
### footfall_ingest

Reads new lines of the access logs matching `FOOTFALL_LOG_GLOB` and `FOOTFALL_LOG_SOURCES`
(globs labelled with a site), parses them with the nginx `log_format` in `FOOTFALL_LOG_FORMAT`,
pseudonymises visitors and writes Parquet under `$FOOTFALL_DATA_DIR/events/`, then rebuilds
the DuckDB aggregates of every day that received data.

* `check_environment`: logs a warning for every `FOOTFALL_*` or `VISIT_TRACKING_*` variable
  footfall does not know (a typo such as `FOOTFALL_LOG_GLOBS` would be ignored), and the
  Params this run was triggered with.
* `purge_old_salts`: deletes daily visitor salts older than 48 hours (docs/operators/privacy.md).
* `plan_sources`: which files have new bytes, and their site, from the manifest
  (exactly-once by content).
* `plan_units`: splits the new bytes into work units of at most `FOOTFALL_MAP_CHUNK_BYTES`
  (a `.gz` file is one unit), at most `FOOTFALL_MAP_MAX_UNITS` per run; never the warehouse.
* `parse_source`: one mapped task per work unit; writes staged Parquet, never the warehouse.
  Lines dated more than `FOOTFALL_FUTURE_TOLERANCE_S` after they are read are quarantined.
* `commit_sources`: per file, commits the units parsed without a gap from its committed
  offset, registers the files, advances the manifest and records the run in one transaction
  (also when nothing was new). Fails without retries, after committing the rest, when a
  unit did not parse or when more than `FOOTFALL_MAX_REJECT_RATE` of a file's lines were
  quarantined (wrong `FOOTFALL_LOG_FORMAT`?).
* `rebuild_aggregates`: loads the dimension files (`FOOTFALL_DIMENSIONS_DIR`), then rebuilds
  every aggregate and per-day visitor table for the days that received lines.

Tasks that open the warehouse share the one-slot pool `footfall_warehouse` and run on the Celery
queue of the same name (the warehouse host's worker); the others run on any worker.

**Backfills**: the trigger form (or `airflow dags trigger footfall_ingest --conf '{...}'`) takes
Params that override the environment for that run only: `log_globs`, `site`, `log_format`, and
`files_from` / `files_to` (UTC dates): only files whose lines may fall in that range, from the
time of their first line to their last modification, are read. docs/operators/operations.md#backfilling.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, DeltaDataIntervalTimetable, Param, dag, task

from warehouse.backfill import INGEST_PARAMS
from warehouse.placement import WAREHOUSE_POOL, WAREHOUSE_QUEUE
from warehouse.settings import report_interval_seconds

AGGREGATES = Asset("footfall_aggregates")


@dag(
    dag_id="footfall_ingest",
    schedule=DeltaDataIntervalTimetable(dt.timedelta(seconds=report_interval_seconds())),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest interval a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1)},
    tags=["footfall", "ingest"],
    description="Reads new access-log lines into pseudonymised Parquet events and rebuilds the daily aggregates",
    doc_md=__doc__,
    # Empty means "as configured in the environment" (warehouse/backfill.py).
    params={
        name: Param(None, type=["null", "string"], title=title, description=text, **({"format": fmt} if fmt else {}))
        for name, (title, text, fmt) in INGEST_PARAMS.items()
    },
)
def footfall_ingest():
    @task
    def check_environment(params=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.backfill import check_run

        try:
            return check_run(params)
        except ValueError as exc:  # a bad Param or setting: retrying cannot help
            raise AirflowFailException(str(exc)) from exc

    @task
    def purge_old_salts() -> list[str]:
        from warehouse.settings import task_settings
        from warehouse.shared_secrets import purge_salts

        # Salt age is real time, not the data interval: deletion is a privacy promise
        # ("no salt lives longer than 48 hours"), kept even when runs are re-run or backfilled.
        return purge_salts(task_settings(), dt.datetime.now(dt.UTC))

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def plan_sources(params=None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.backfill import file_range, in_range, run_settings
        from warehouse.ingest.sources import find_sources
        from warehouse.settings import ConfigError

        try:
            settings = run_settings(params)
            return [plan.to_dict() for plan in in_range(find_sources(settings), settings, *file_range(params))]
        except ConfigError as exc:  # e.g. a file matched by two sites' globs: retrying cannot help
            raise AirflowFailException(str(exc)) from exc

    # Outside the pool: it reads the log files (seeks, and counts the lines of units that
    # have a successor), never the warehouse.
    @task
    def plan_units(plans: list[dict], params=None) -> list[dict]:
        from airflow.sdk import conf

        from warehouse.backfill import run_settings
        from warehouse.ingest.planning import plan_units
        from warehouse.ingest.sources import SourcePlan

        settings = run_settings(params)
        # More mapped tasks than [core] max_map_length would fail the whole run at expand time.
        cap = min(settings.map_max_units, conf.getint("core", "max_map_length", fallback=1024))
        return [unit.to_dict() for unit in plan_units(settings, [SourcePlan(**p) for p in plans], cap)]

    @task
    def parse_source(unit: dict, run_id=None, data_interval_end=None, dag_run=None, params=None) -> dict:
        from warehouse.backfill import run_settings
        from warehouse.ingest.parse_job import ParseJob, parse_source
        from warehouse.ingest.planning import WorkUnit
        from warehouse.manual_runs import run_interval_end

        # Lines dated more than FOOTFALL_FUTURE_TOLERANCE_S after the real time they are read are
        # quarantined; the data interval is not that time (a re-run reads today's lines).
        now = dt.datetime.now(dt.UTC)
        ingest_date = run_interval_end(data_interval_end, dag_run).date()
        job = ParseJob.from_settings(run_settings(params))
        return parse_source(job, WorkUnit.from_dict(unit), run_id, ingest_date, now)

    # all_done: runs when some units failed (after their retries), to commit each file up to
    # its first failed unit, and when no file had new bytes (parse_source is then skipped), to
    # record that this interval was ingested: footfall_report waits for that.
    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, trigger_rule="all_done")
    def commit_sources(
        units: list[dict] | None, results: list[dict], run_id=None, data_interval_end=None, dag_run=None, params=None
    ) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from transforms.privacy import KeyStore
        from warehouse.aggregation import aggregate
        from warehouse.backfill import run_settings
        from warehouse.ingest.commit import commit
        from warehouse.ingest.errors import IngestIncomplete
        from warehouse.manual_runs import run_interval_end
        from warehouse.shared_secrets import SecretsNotShared, check_shared_secrets

        if units is None:  # planning failed: parse_source never ran, there is nothing to commit
            raise AirflowFailException("plan_sources or plan_units failed; nothing was parsed or committed")
        settings, results = run_settings(params), list(results or [])
        try:
            # Units parsed on several hosts: same salts and hash key everywhere, or nothing commits.
            check_shared_secrets(KeyStore(settings.secrets_dir, settings.hash_key), results)
            return commit(settings, results, run_id, run_interval_end(data_interval_end, dag_run), planned=units)
        except SecretsNotShared as exc:  # a deployment error: a retry would find the same salts
            raise AirflowFailException(str(exc)) from exc
        except IngestIncomplete as exc:
            # The rest did commit, and rebuild_aggregates will not run: rebuild their days here.
            # Then fail without retries: a retry would find nothing more to commit (a fixed
            # FOOTFALL_LOG_FORMAT or the next run's re-planned units are what helps), and a
            # failed parse_source alone would not fail the run (its state follows the leaves).
            aggregate(settings, exc.committed["days"])
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, outlets=[AGGREGATES])
    def rebuild_aggregates(committed: dict) -> int:
        from airflow.sdk.exceptions import AirflowFailException

        from transforms.models.dimensions import DimensionError
        from warehouse.aggregation import aggregate
        from warehouse.settings import task_settings

        try:
            return aggregate(task_settings(), committed["days"])
        except DimensionError as exc:  # a bad dimension file: retrying cannot help, fixing it does
            raise AirflowFailException(str(exc)) from exc

    plans = plan_sources()
    check_environment() >> purge_old_salts() >> plans
    units = plan_units(plans)
    rebuild_aggregates(commit_sources(units, parse_source.expand(unit=units)))


footfall_ingest()
