"""
### footfall_ingest

Reads new lines of the access logs matching `FOOTFALL_LOG_GLOB`, parses them with the
nginx `log_format` in `FOOTFALL_LOG_FORMAT`, pseudonymises visitors and writes Parquet
under `$FOOTFALL_DATA_DIR/events/`, then rebuilds the DuckDB aggregates of every day that
received data.

* `plan_sources`: which files have new bytes, from the manifest (exactly-once by content).
* `parse_source`: one mapped task per file; writes staged Parquet, never the warehouse.
* `commit_sources`: registers the files and advances the manifest in one transaction.
* `rebuild_aggregates`: `daily_traffic`, `status_daily`, `page_daily`, `hourly_traffic`.

Tasks that open the warehouse share the one-slot pool `footfall_warehouse`.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, DeltaDataIntervalTimetable, dag, task

WAREHOUSE_POOL = "footfall_warehouse"
AGGREGATES = Asset("footfall_aggregates")
INTERVAL = dt.timedelta(seconds=int(os.environ.get("VISIT_TRACKING_INTERVAL") or 1800))


@dag(
    dag_id="footfall_ingest",
    schedule=DeltaDataIntervalTimetable(INTERVAL),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest interval a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1)},
    tags=["footfall", "ingest"],
    doc_md=__doc__,
)
def footfall_ingest():
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

    @task(pool=WAREHOUSE_POOL)
    def commit_sources(results: list[dict], run_id=None) -> dict:
        from warehouse.ingest import commit
        from warehouse.settings import task_settings

        return commit(task_settings(), list(results), run_id)

    @task(pool=WAREHOUSE_POOL, outlets=[AGGREGATES])
    def rebuild_aggregates(committed: dict) -> int:
        from warehouse.ingest import aggregate
        from warehouse.settings import task_settings

        return aggregate(task_settings(), committed["days"])

    rebuild_aggregates(commit_sources(parse_source.expand(plan=plan_sources())))


footfall_ingest()
