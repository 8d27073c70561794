"""A configured glob of access logs and its site (read by :mod:`warehouse.log_sources`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_LOG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "apache_combined_sample.log"


@dataclass(frozen=True)
class LogSource:
    """One configured glob of access logs, the site (vhost) its lines belong to, and the
    variable it was configured in (``FOOTFALL_LOG_GLOB``, ``FOOTFALL_LOG_SOURCES``, or empty for
    the bundled sample)."""

    site: str
    glob: str
    variable: str = field(default="FOOTFALL_LOG_GLOB", compare=False)
