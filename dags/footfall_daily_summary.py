"""
### footfall_daily_summary

Once a day, after UTC midnight, builds the daily summary of the day (wall clock in
`FOOTFALL_TIMEZONE`, default UTC) that ended during the run's data interval (traffic totals,
status classes, top pages) into the report outbox, the table
`report_outbox` of the warehouse. The DAG `footfall_delivery` sends it, through the same
path as the visit-tracking reports; with reporting disabled it is also written to
`$FOOTFALL_DATA_DIR/outbox/`.

* `wait_for_ingest`: waits (rescheduling, up to 6 hours) until an ingest run whose data
  interval ends at or after this one's has committed, so the summary sees the whole day.
  An interval ending more than `FOOTFALL_FUTURE_TOLERANCE_S` after the clock fails at once.
* `build_daily_summary`: builds, validates and queues report `daily_summary-<day start>-<day end>`;
  keyed on the data interval. Updates the asset `footfall_outbox`, which starts a delivery run.

Payload format: docs/receivers/contract.md; delivery: docs/operators/reporting.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, DeltaDataIntervalTimetable, dag, task

from warehouse.placement import WAREHOUSE_POOL, WAREHOUSE_QUEUE

OUTBOX = Asset("footfall_outbox")

# A run triggered without a logical date reports the newest interval of this length that the
# warehouse has been read through (warehouse.manual_runs).
INTERVAL = dt.timedelta(days=1)


@dag(
    dag_id="footfall_daily_summary",
    # UTC days; each run summarises the FOOTFALL_TIMEZONE day that ended inside its interval.
    schedule=DeltaDataIntervalTimetable(INTERVAL),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest day a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=5)},
    tags=["footfall", "report"],
    description="Builds the daily summary of the day that has just ended into the report outbox",
    doc_md=__doc__,
)
def footfall_daily_summary():
    @task.sensor(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def wait_for_ingest(data_interval_start=None, data_interval_end=None) -> bool:
        from warehouse.reporting.reports import report_ready
        from warehouse.settings import task_settings

        return report_ready(task_settings(), data_interval_start, data_interval_end, INTERVAL)

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, outlets=[OUTBOX])
    def build_daily_summary(data_interval_start=None, data_interval_end=None) -> list[str]:
        from warehouse.manual_runs import report_interval
        from warehouse.reporting.reports import build_daily_summaries
        from warehouse.settings import task_settings

        settings = task_settings()
        start, end = report_interval(settings, data_interval_start, data_interval_end, INTERVAL)
        return build_daily_summaries(settings, start, end)

    wait_for_ingest() >> build_daily_summary()


footfall_daily_summary()
