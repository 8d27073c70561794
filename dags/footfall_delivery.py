"""
### footfall_delivery

Sends the reports waiting in the report outbox (table `report_outbox`) to the reporting API,
oldest first, each exactly once from the receiver's point of view: every POST of a report
carries `Idempotency-Key: <report id>`. Runs every `VISIT_TRACKING_INTERVAL` seconds and
whenever a report is built (asset `footfall_outbox`). Does nothing while
`VISIT_TRACKING_ENABLED` is false.

* `claim_reports` (warehouse pool): marks the due reports `sending`, per kind in interval
  order and stopping at one that waits, and copies them to a spool directory.
* `post_reports` (no pool: the warehouse is closed while it waits on the API): POSTs them
  with timeouts, retries and backoff; a report that cannot go now gets a next attempt time.
* `record_deliveries` (warehouse pool, runs even when `post_reports` failed): records delivered,
  retried and refused reports. Fails, with the API's answer, while a report is refused
  (`failed`): that blocks its kind until `python -m warehouse.cli outbox retry|discard <id>`.

Delivery semantics and signing: docs/receivers/contract.md; the operator commands: docs/operators/reporting.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetOrTimeSchedule, DeltaDataIntervalTimetable, TriggerRule, dag, task

from warehouse.placement import WAREHOUSE_POOL, WAREHOUSE_QUEUE
from warehouse.settings import report_interval_seconds

OUTBOX = Asset("footfall_outbox")


@dag(
    dag_id="footfall_delivery",
    schedule=AssetOrTimeSchedule(
        timetable=DeltaDataIntervalTimetable(dt.timedelta(seconds=report_interval_seconds())), assets=OUTBOX
    ),
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    catchup=False,  # a run sends everything due: missed runs need no catching up
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1)},
    tags=["footfall", "report"],
    description="Sends the due reports of the outbox to the reporting API, oldest first",
    doc_md=__doc__,
)
def footfall_delivery():
    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE)
    def claim_reports() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.reporting.outbox import claim
        from warehouse.settings import ConfigError, reporting_task_settings

        try:
            return claim(reporting_task_settings(), now=dt.datetime.now(dt.UTC))
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc

    # The claim's lease is an hour and sending stops starting POSTs after half of it.
    @task(execution_timeout=dt.timedelta(minutes=45))
    def post_reports(claimed: dict) -> dict:
        from warehouse.reporting.delivery import send_claim
        from warehouse.settings import reporting_task_settings

        return send_claim(reporting_task_settings(), claimed["spool"])

    # Runs when post_reports failed too (it records what was sent and frees the rest), but not
    # when claim_reports failed: then there is nothing to record.
    @task(pool=WAREHOUSE_POOL, queue=WAREHOUSE_QUEUE, trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def record_deliveries(claimed: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.reporting.outbox import DeliveryRejected, record
        from warehouse.settings import task_settings

        try:
            return record(task_settings(), claimed["claim_id"])
        except DeliveryRejected as exc:
            # Sending the same bytes again cannot succeed: fail loudly, without retries.
            raise AirflowFailException(str(exc)) from exc

    claimed = claim_reports()
    post_reports(claimed) >> record_deliveries(claimed)


footfall_delivery()
