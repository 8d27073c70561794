"""footfall's settings, built from the environment and declared once.

Every component receives a :class:`Settings`; nothing deeper reads ``os.environ``. Each setting
is declared once, in :mod:`warehouse.settings.model` (the API's in :mod:`warehouse.settings.api`),
with its variable, type, default, unit, group and description; the settings reference,
docs/operators/settings.md, is generated from them (``python -m warehouse.settings --markdown``).
Secrets may also come from Airflow: the hash key from the Variable ``footfall_hash_key``
(:func:`task_settings`), the reporting token and signing secret from the Connection
``reporting_api`` (:func:`reporting_task_settings`). Secret fields are left out of ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from warehouse.placement import WAREHOUSE_POOL  # noqa: F401  (where it used to be declared)
from warehouse.settings.airflow import REPORTING_CONNECTION, reporting_task_settings, task_settings
from warehouse.settings.api import ApiSettings
from warehouse.settings.model import REPO_ROOT, Settings
from warehouse.settings.sources import SAMPLE_LOG, LogSource
from warehouse.settings.values import ConfigError, positive_int

__all__ = [
    "REPORTING_CONNECTION",
    "REPO_ROOT",
    "SAMPLE_LOG",
    "ApiSettings",
    "ConfigError",
    "LogSource",
    "Settings",
    "report_interval_seconds",
    "reporting_task_settings",
    "task_settings",
]


def report_interval_seconds(env: Mapping[str, str] | None = None) -> int:
    """``VISIT_TRACKING_INTERVAL`` in seconds (default 1800): the schedule of the ingest and
    report DAGs and the length of a report's data interval. Reads that variable only: DAG files
    call it when parsed.

    Raises:
        ConfigError: not a whole number greater than 0.
    """
    field = Settings.model_fields["visit_tracking_interval"]
    raw = (os.environ if env is None else env).get(field.validation_alias)
    return positive_int(raw, field.validation_alias) if raw else field.default
