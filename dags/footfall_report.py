"""
### footfall_report

Every `VISIT_TRACKING_INTERVAL` seconds (default 1800), builds the visit-tracking report of
the run's data interval, page views per UTC hour bucket with paths, user agents and
countries, and delivers it: POSTed to `VISIT_TRACKING_API` when `VISIT_TRACKING_ENABLED`
is true, otherwise written to `$FOOTFALL_DATA_DIR/outbox/`.

Keyed on the data interval: re-running a run rebuilds the same payload.
Payload format: docs/reporting.md.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DeltaDataIntervalTimetable, dag, task

WAREHOUSE_POOL = "footfall_warehouse"
INTERVAL = dt.timedelta(seconds=int(os.environ.get("VISIT_TRACKING_INTERVAL") or 1800))


@dag(
    dag_id="footfall_report",
    schedule=DeltaDataIntervalTimetable(INTERVAL),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest interval a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=2)},
    tags=["footfall", "report"],
    doc_md=__doc__,
)
def footfall_report():
    @task(pool=WAREHOUSE_POOL)
    def build_report(data_interval_start=None, data_interval_end=None) -> str:
        from warehouse.report import build_report_file
        from warehouse.settings import task_settings

        return str(build_report_file(task_settings(), data_interval_start, data_interval_end))

    @task
    def deliver_report(path: str) -> str:
        from warehouse.publish import deliver
        from warehouse.settings import task_settings

        return deliver(task_settings(), path)

    deliver_report(build_report())


footfall_report()
