"""How the analytics API is served: its settings, declared beside footfall's others.

A model of its own rather than fields of :class:`~warehouse.settings.Settings`: ``make serve``
and the tests build it without the ingest's settings, and those variables are never read by a
pipeline task.
"""

from __future__ import annotations

from warehouse.settings.declare import Declared, setting


class ApiSettings(Declared):
    """How the API is served (``FOOTFALL_API_*``, ``FOOTFALL_DASHBOARD_FRAME_ANCESTORS``). Frozen."""

    host: str = setting(
        "127.0.0.1", "FOOTFALL_API_HOST", "api", "host", "where the analytics API listens",
        details="`127.0.0.1`: only this machine; put a TLS reverse proxy in front to serve others "
        "([the API](../staff/api.md))",
    )  # fmt: skip
    port: int = setting(8000, "FOOTFALL_API_PORT", "api", "port", "the analytics API's port")
    cache_entries: int = setting(
        4096, "FOOTFALL_API_CACHE_ENTRIES", "api", "cache_size",
        "answers the analytics API keeps per snapshot generation", unit="answers",
        details="0: none; an answer depends only on the generation and the request",
    )  # fmt: skip
    frame_ancestors: str = setting(
        "'self'", "FOOTFALL_DASHBOARD_FRAME_ANCESTORS", "api", "csp_sources",
        "who may show the dashboard in a frame",
        details="the CSP `frame-ancestors` source list, e.g. `'self' http://localhost:8080` for an Airflow UI on "
        "another port",
        shown_default="`'self'`",
    )  # fmt: skip

    @classmethod
    def from_env(cls, env=None) -> ApiSettings:
        """Read the variables (``os.environ`` when ``env`` is None).

        Raises:
            ConfigError: the port is not a whole number from 1 to 65535, the host is blank, or
                the cache size is not a whole number of at least 0.
        """
        return cls.read(env)
