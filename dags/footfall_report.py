"""
### footfall_report

Every `VISIT_TRACKING_INTERVAL` seconds (default 1800), builds the visit-tracking report of
the run's data interval (page views per hour bucket, wall clock in `FOOTFALL_TIMEZONE`, with
the top paths, user agents and countries) into the report outbox, the table `report_outbox` of the warehouse. The DAG
`footfall_delivery` sends it; with reporting disabled it is also written to
`$FOOTFALL_DATA_DIR/outbox/`.

* `wait_for_ingest`: waits (rescheduling, up to 2 hours) until an ingest run whose data
  interval ends at or after this one's has committed, so the report sees its interval's lines.
  An interval ending more than `FOOTFALL_FUTURE_TOLERANCE_S` after the clock fails at once.
* `build_report`: builds, validates and queues report `visits-<start>-<end>`; keyed on the
  data interval, so a re-run rebuilds the same report (a delivered one is never sent again).
  Updates the asset `footfall_outbox`, which starts a delivery run.

Payload format: docs/receivers/contract.md; delivery: docs/operators/reporting.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, DeltaDataIntervalTimetable, dag, task

from warehouse.placement import WAREHOUSE_POOL, WAREHOUSE_QUEUE
from warehouse.settings import report_interval_seconds

OUTBOX = Asset("footfall_outbox")

# A run triggered without a logical date reports the newest interval of this length that the
# warehouse has been read through (warehouse.manual_runs).
INTERVAL = dt.timedelta(seconds=report_interval_seconds())


@dag(
    dag_id="footfall_report",
    schedule=DeltaDataIntervalTimetable(INTERVAL),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest interval a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=2)},
    tags=["footfall", "report"],
    description="Builds the visit-tracking report of each interval into the report outbox",
    doc_md=__doc__,
)
def footfall_report():
    @task.sensor(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, poke_interval=60, timeout=2 * 3600, mode="reschedule")
    def wait_for_ingest(data_interval_start=None, data_interval_end=None) -> bool:
        from warehouse.reporting.reports import report_ready
        from warehouse.settings import task_settings

        return report_ready(task_settings(), data_interval_start, data_interval_end, INTERVAL)

    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, outlets=[OUTBOX])
    def build_report(data_interval_start=None, data_interval_end=None) -> str:
        from warehouse.manual_runs import report_interval
        from warehouse.reporting.reports import build_visits_report
        from warehouse.settings import task_settings

        settings = task_settings()
        start, end = report_interval(settings, data_interval_start, data_interval_end, INTERVAL)
        return build_visits_report(settings, start, end)

    wait_for_ingest() >> build_report()


footfall_report()
