"""
### footfall_ingest

Reads new lines of the access logs matching `FOOTFALL_LOG_GLOB`, parses them with the
nginx `log_format` in `FOOTFALL_LOG_FORMAT`, pseudonymises visitors and writes Parquet
under `$FOOTFALL_DATA_DIR/events/`, then rebuilds the DuckDB aggregates of every day that
received data.

* `purge_old_salts`: deletes daily visitor salts older than 48 hours (docs/privacy.md).
* `plan_sources`: which files have new bytes, from the manifest (exactly-once by content).
* `parse_source`: one mapped task per file; writes staged Parquet, never the warehouse.
* `commit_sources`: registers the files, advances the manifest and records the run in one
  transaction (also when nothing was new). Fails without retries when more than
  `FOOTFALL_MAX_REJECT_RATE` of a file's lines were quarantined (wrong `FOOTFALL_LOG_FORMAT`?).
* `rebuild_aggregates`: `daily_traffic`, `status_daily`, `page_daily`, `hourly_traffic`.

Tasks that open the warehouse share the one-slot pool `footfall_warehouse`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, DeltaDataIntervalTimetable, dag, task

from warehouse.settings import report_interval_seconds

WAREHOUSE_POOL = "footfall_warehouse"
AGGREGATES = Asset("footfall_aggregates")


@dag(
    dag_id="footfall_ingest",
    schedule=DeltaDataIntervalTimetable(dt.timedelta(seconds=report_interval_seconds())),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest interval a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1)},
    tags=["footfall", "ingest"],
    doc_md=__doc__,
)
def footfall_ingest():
    @task
    def purge_old_salts() -> list[str]:
        from warehouse.ingest import purge_salts
        from warehouse.settings import task_settings

        # Salt age is real time, not the data interval: deletion is a privacy promise
        # ("no salt lives longer than 48 hours"), kept even when runs are re-run or backfilled.
        return purge_salts(task_settings(), dt.datetime.now(dt.UTC))

    @task(pool=WAREHOUSE_POOL)
    def plan_sources() -> list[dict]:
        from warehouse.ingest import discover
        from warehouse.settings import task_settings

        return [plan.to_dict() for plan in discover(task_settings())]

    @task
    def parse_source(plan: dict, run_id=None, data_interval_end=None) -> dict:
        from warehouse.ingest import SourcePlan, parse_source
        from warehouse.settings import task_settings

        return parse_source(task_settings(), SourcePlan(**plan), run_id, data_interval_end.date())

    # Runs when no file had new bytes too (parse_source is then skipped), to record that
    # this interval was ingested: footfall_report waits for that.
    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed")
    def commit_sources(results: list[dict], run_id=None, data_interval_end=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.ingest import RejectRateExceeded, aggregate, commit
        from warehouse.settings import task_settings

        settings = task_settings()
        try:
            return commit(settings, list(results or []), run_id, data_interval_end)
        except RejectRateExceeded as exc:
            # The other files did commit, and rebuild_aggregates will not run: rebuild their
            # days here. Then fail without retries: only a fixed FOOTFALL_LOG_FORMAT helps.
            aggregate(settings, exc.committed["days"])
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, outlets=[AGGREGATES])
    def rebuild_aggregates(committed: dict) -> int:
        from warehouse.ingest import aggregate
        from warehouse.settings import task_settings

        return aggregate(task_settings(), committed["days"])

    plans = plan_sources()
    purge_old_salts() >> plans
    rebuild_aggregates(commit_sources(parse_source.expand(plan=plans)))


footfall_ingest()
