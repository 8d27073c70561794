"""
### footfall_retention

Once a day, deletes what the retention policy no longer keeps (`FOOTFALL_RETENTION_*`):
raw events and quarantined lines after 7 days, visit and visitor tables after 90. Daily
aggregates are kept forever, unless `FOOTFALL_RETENTION_AGGREGATES_DAYS` is set: then they
are rolled up into monthly tables (kept forever) and deleted after that many days. The clock
is the run's data interval end, so a backfill or a cleared run purges what it would have then.

**Paused when first created**: a new Airflow home never deletes anything until an operator
has read what a run would do (`python -m warehouse.cli retention --dry-run`) and unpaused
the DAG (`airflow dags unpause footfall_retention`, or the toggle in the UI).

* `plan`: logs what this run will delete and roll up, before anything is deleted.
* `rebuild_pending`: rebuilds the aggregates of days committed but not rebuilt yet, so no
  day loses its raw events before its aggregates hold them.
* `purge_raw`: unregisters expired event and quarantine files and records the purged
  partitions in one transaction, then deletes the files. From then on no rebuild
  recomputes the days they cover. A partition whose aggregates are not rebuilt yet is kept.
* `roll_up`: adds the daily rows of expired, purged days to the `*_monthly` tables, each day
  exactly once (`rollup_days`).
* `purge_aggregates`: deletes the daily rows of rolled-up days and expired visitor rows.
* `sweep_orphans`: deletes Parquet files no commit registered (older than an hour) and stale
  staging dirs.

Every task is idempotent and opens the warehouse (`plan` read-only), so all take the one-slot pool
`footfall_warehouse`. Details: docs/operators/operations.md#retention.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DeltaDataIntervalTimetable, dag, task

from warehouse.placement import WAREHOUSE_POOL, WAREHOUSE_QUEUE


@dag(
    dag_id="footfall_retention",
    schedule=DeltaDataIntervalTimetable(dt.timedelta(days=1)),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    catchup=False,  # each run purges everything expired by its clock: missed days need no run of their own
    # Deleting data is not something a fresh scheduler should start on its own: until an
    # operator unpauses it, a backfill of old logs is never purged by today's clock.
    is_paused_upon_creation=True,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=5)},
    tags=["footfall", "retention"],
    description="Deletes raw events, quarantined lines and visitor rows past their retention; paused at creation",
    doc_md=__doc__,
)
def footfall_retention():
    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def plan(data_interval_end=None, dag_run=None) -> str:
        from warehouse.manual_runs import run_interval_end
        from warehouse.retention_plan import log_plan
        from warehouse.settings import task_settings

        return log_plan(task_settings(), run_interval_end(data_interval_end, dag_run), dt.datetime.now(dt.UTC))

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def rebuild_pending() -> int:
        from warehouse.retention import rebuild_pending
        from warehouse.settings import task_settings

        return rebuild_pending(task_settings())

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def purge_raw(data_interval_end=None, dag_run=None) -> dict:
        from warehouse.manual_runs import run_interval_end
        from warehouse.retention import purge_raw
        from warehouse.settings import task_settings

        return purge_raw(task_settings(), run_interval_end(data_interval_end, dag_run))

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def roll_up(data_interval_end=None, dag_run=None) -> dict:
        from warehouse.manual_runs import run_interval_end
        from warehouse.retention import roll_up
        from warehouse.settings import task_settings

        return roll_up(task_settings(), run_interval_end(data_interval_end, dag_run))

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def purge_aggregates(data_interval_end=None, dag_run=None) -> dict:
        from warehouse.manual_runs import run_interval_end
        from warehouse.retention import purge_aggregates
        from warehouse.settings import task_settings

        return purge_aggregates(task_settings(), run_interval_end(data_interval_end, dag_run))

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def sweep_orphans() -> dict:
        from warehouse.retention import sweep_orphans
        from warehouse.settings import task_settings

        # Real time, not the data interval: the grace period protects files of ingest runs
        # happening now, whatever interval this run (a backfill, say) covers.
        return sweep_orphans(task_settings(), dt.datetime.now(dt.UTC))

    plan() >> rebuild_pending() >> purge_raw() >> roll_up() >> purge_aggregates() >> sweep_orphans()


footfall_retention()
