"""Where the analytics API listens: ``FOOTFALL_API_HOST`` and ``FOOTFALL_API_PORT``.

Kept beside :class:`warehouse.settings.Settings` (which the API reads too, for the data and
secrets dirs) rather than in it: ``warehouse/settings.py`` is over the 500-line limit of the
project and must not grow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from warehouse.environment import declared
from warehouse.settings import ConfigError

MAX_RANGE_DAYS = 400


@dataclass(frozen=True)
class ApiSettings:
    """How the API is served.

    Attributes:
        host: ``FOOTFALL_API_HOST`` (default ``127.0.0.1``: only this machine; put a TLS
            reverse proxy in front to serve others).
        port: ``FOOTFALL_API_PORT`` (default 8000).
        cache_entries: ``FOOTFALL_API_CACHE_ENTRIES`` (default 4096): answers kept per snapshot
            generation (an answer depends only on the generation and the request).
        frame_ancestors: ``FOOTFALL_DASHBOARD_FRAME_ANCESTORS`` (default ``'self'``): who may
            show the dashboard in a frame (CSP ``frame-ancestors``), e.g. ``'self'
            http://localhost:8080`` for an Airflow UI on another port.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    cache_entries: int = 4096
    frame_ancestors: str = "'self'"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Read the variables (``os.environ`` when ``env`` is None).

        Raises:
            ConfigError: the port is not a whole number from 1 to 65535, the host is blank, or
                the cache size is not a whole number of at least 0.
        """
        env = declared(os.environ if env is None else env)
        host = (env.get("FOOTFALL_API_HOST") or "127.0.0.1").strip()
        if not host:
            raise ConfigError("FOOTFALL_API_HOST is blank; give a host name or address, e.g. 127.0.0.1")
        ancestors = " ".join((env.get("FOOTFALL_DASHBOARD_FRAME_ANCESTORS") or "'self'").split())
        if any(c in ancestors for c in ';,"') or not ancestors:
            raise ConfigError(
                f"FOOTFALL_DASHBOARD_FRAME_ANCESTORS={ancestors!r} is not a CSP source list; "
                "give origins separated by spaces, e.g. 'self' http://localhost:8080"
            )
        return cls(
            host=host,
            frame_ancestors=ancestors,
            port=_int(env, "FOOTFALL_API_PORT", 8000, 1, 65535),
            cache_entries=_int(env, "FOOTFALL_API_CACHE_ENTRIES", 4096, 0, 10**7),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} must be from {low} to {high}")
    return value
