"""footfall's read side: the analytics HTTP API over the published snapshot (docs/staff/api.md).

``analytics.app`` (the FastAPI app), ``analytics.routers`` (the endpoints), ``analytics/sql``
(their queries), ``analytics.tokens`` (bearer tokens), ``analytics.reader`` (snapshot
generations), ``analytics.airflow_plugin`` (the same app in Airflow's API server).
"""
