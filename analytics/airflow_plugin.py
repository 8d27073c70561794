"""The analytics API inside Airflow's own API server, and an "Analytics" entry in its navigation.

Registered through the entry point ``airflow.plugins`` in pyproject.toml, so an installed
footfall needs no file in Airflow's plugins folder. The app is mounted under ``/footfall``:
``<airflow>/footfall/api/analytics/visitors/`` and so on. Airflow's authentication does not
protect a plugin's routes: the app checks its own bearer tokens on every request, exactly as
under ``make serve``.

Airflow imports plugins in every component (scheduler, workers, DAG processor), so nothing
is built at import: :class:`LazyAnalyticsApp` creates the FastAPI app on its first request.
"""

from __future__ import annotations

import threading

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/footfall"


class LazyAnalyticsApp:
    """An ASGI app that builds ``analytics.app.create_app()`` on first use."""

    def __init__(self) -> None:
        self._app = None
        self._lock = threading.Lock()

    def _build(self):
        with self._lock:
            if self._app is None:
                from analytics.app import create_app

                self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":  # a mounted app gets none; nothing to start or stop
            return
        await (self._app or self._build())(scope, receive, send)


class FootfallAnalyticsPlugin(AirflowPlugin):
    """footfall's analytics API (``fastapi_apps``) and its link in the UI (``external_views``)."""

    name = "footfall_analytics"
    fastapi_apps = [{"app": LazyAnalyticsApp(), "url_prefix": URL_PREFIX, "name": "footfall analytics API"}]
    external_views = [
        {
            "name": "Analytics",
            # Relative, without a leading slash: Airflow resolves it against its own base URL.
            # The dashboard (web/), shown in an iframe of the UI; same origin, so its CSP allows it.
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "destination": "nav",
            "url_route": "footfall-analytics",
        }
    ]
