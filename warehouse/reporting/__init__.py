"""Reporting: the reports footfall sends, their outbox, and their delivery to the receivers.

1. :mod:`~warehouse.reporting.reports` builds each report's payload from the warehouse
   (``dags/footfall_report.py``, ``dags/footfall_daily_summary.py``) and queues it.
2. :mod:`~warehouse.reporting.outbox` keeps the queued reports and their states, and claims the
   due ones for a delivery run (``dags/footfall_delivery.py``).
3. :mod:`~warehouse.reporting.delivery` POSTs a claim's reports over HTTP, signed, and records
   each outcome.
"""
