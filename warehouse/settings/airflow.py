"""Settings inside an Airflow task: the environment, with secrets from Airflow's Variables and
Connections winning over it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from warehouse.settings.model import Settings

REPORTING_CONNECTION = "reporting_api"


def task_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings inside an Airflow task: the environment (``os.environ``, or ``env``: the ingest
    DAG passes the environment with its run's Params applied), with the hash key taken from the
    Airflow Variable ``footfall_hash_key`` when it is set."""
    from airflow.sdk import Variable

    key = Variable.get("footfall_hash_key", default=None)
    return Settings.from_env(os.environ if env is None else env, hash_key=key)


def reporting_task_settings() -> Settings:
    """Settings inside an Airflow task that talks to the reporting API.

    The Airflow Connection ``reporting_api``, when defined, wins over the environment: its
    password is the bearer token and its extra field ``signing_secret`` the signing secret.
    Both are registered with Airflow's secrets masker, so a task log never shows them.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    settings = Settings.from_env(os.environ)
    try:
        conn = BaseHook.get_connection(REPORTING_CONNECTION)
    except AirflowNotFoundException:
        conn = None
    if conn is not None:
        extra = conn.extra_dejson
        settings = settings.replace(
            visit_tracking_api_token=conn.password or settings.visit_tracking_api_token,
            visit_tracking_signing_secret=extra.get("signing_secret") or settings.visit_tracking_signing_secret,
        )
    for secret in (settings.visit_tracking_api_token, settings.visit_tracking_signing_secret):
        if secret:
            mask_secret(secret)
    return settings
