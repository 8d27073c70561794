"""
### footfall_report

Every `VISIT_TRACKING_INTERVAL` seconds (default 1800), builds the visit-tracking report of
the run's data interval, page views per UTC hour bucket with paths, user agents and
countries, and delivers it: POSTed to `VISIT_TRACKING_API` when `VISIT_TRACKING_ENABLED`
is true, otherwise written to `$FOOTFALL_DATA_DIR/outbox/`.

* `wait_for_ingest`: waits (rescheduling, up to 2 hours) until an ingest run whose data
  interval ends at or after this one's has committed, so the report sees its interval's lines.
* `build_report`: writes `reports/visits-<start>-<end>.json`; keyed on the data interval.
* `deliver_report`: POST with retries; a refusal (4xx) fails the task without Airflow retries.

Payload format: docs/reporting.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DeltaDataIntervalTimetable, dag, task

from warehouse.settings import report_interval_seconds

WAREHOUSE_POOL = "footfall_warehouse"


@dag(
    dag_id="footfall_report",
    schedule=DeltaDataIntervalTimetable(dt.timedelta(seconds=report_interval_seconds())),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # earliest interval a backfill may cover
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=2)},
    tags=["footfall", "report"],
    doc_md=__doc__,
)
def footfall_report():
    @task.sensor(pool=WAREHOUSE_POOL, poke_interval=60, timeout=2 * 3600, mode="reschedule")
    def wait_for_ingest(data_interval_end=None) -> bool:
        from warehouse.ingest import ingested_through
        from warehouse.settings import task_settings

        through = ingested_through(task_settings())
        return through is not None and through >= data_interval_end

    @task(pool=WAREHOUSE_POOL)
    def build_report(data_interval_start=None, data_interval_end=None) -> str:
        from warehouse.report import build_report_file
        from warehouse.settings import task_settings

        return str(build_report_file(task_settings(), data_interval_start, data_interval_end))

    @task
    def deliver_report(path: str) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.publish import DeliveryRejected, deliver
        from warehouse.settings import ConfigError, task_settings

        try:
            return deliver(task_settings(), path)
        except (DeliveryRejected, ConfigError) as exc:
            # Sending the same report again cannot succeed: fail now, loudly, without retries.
            raise AirflowFailException(str(exc)) from exc

    report = build_report()
    wait_for_ingest() >> report
    deliver_report(report)


footfall_report()
