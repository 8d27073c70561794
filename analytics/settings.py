"""Where the analytics API listens: :class:`ApiSettings`, declared with footfall's other settings
(:mod:`warehouse.settings.api`), and the API's fixed limits."""

from __future__ import annotations

from warehouse.settings.api import ApiSettings

__all__ = ["MAX_RANGE_DAYS", "ApiSettings"]

MAX_RANGE_DAYS = 400
