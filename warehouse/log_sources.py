"""The access logs to read and the site each belongs to: ``FOOTFALL_LOG_GLOB``,
``FOOTFALL_SITE`` and ``FOOTFALL_LOG_SOURCES`` (docs/operators/operations.md#sites)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from warehouse.settings.sources import SAMPLE_LOG, LogSource
from warehouse.settings.values import ConfigError

# A site label: a host-name-like word, so that ``label=glob`` splits unambiguously and the label
# reads well in queries (``where site = 'shop'``).
_SITE_LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _glob_list(raw: str) -> list[str]:
    """Entries of a ``:``- or newline-separated list, stripped, empty ones dropped."""
    return [g.strip() for g in raw.replace("\n", ":").split(":") if g.strip()]


def read_log_sources(env: Mapping[str, str], default_site: str) -> tuple[LogSource, ...]:
    """The globs to read and their sites, from ``FOOTFALL_LOG_GLOB`` and ``FOOTFALL_LOG_SOURCES``.

    ``FOOTFALL_LOG_GLOB`` holds unlabelled globs: their lines belong to ``default_site``
    (``FOOTFALL_SITE``). ``FOOTFALL_LOG_SOURCES`` holds ``site=glob`` entries. Both are lists
    separated by ``:`` or newlines. With neither set, the bundled sample log is read.

    Raises:
        ConfigError: an entry of FOOTFALL_LOG_SOURCES has no ``site=`` label, a label is not
            a host-name-like word, a glob is empty, the same glob is given twice for one site,
            or one glob is given for two sites (each message names the entries).
    """
    unlabelled = _glob_list(env.get("FOOTFALL_LOG_GLOB") or "")
    labelled_raw = _glob_list(env.get("FOOTFALL_LOG_SOURCES") or "")
    sources = [LogSource(default_site, g) for g in unlabelled]
    if not unlabelled and not labelled_raw:
        sources = [LogSource(default_site, str(SAMPLE_LOG), "")]
    for entry in labelled_raw:
        label, sep, pattern = entry.partition("=")
        label, pattern = label.strip(), pattern.strip()
        if not sep:
            raise ConfigError(
                f"FOOTFALL_LOG_SOURCES: {entry!r} has no site label; write site=glob, for example "
                "shop=/var/log/nginx/shop*.log (globs without a label go in FOOTFALL_LOG_GLOB)"
            )
        if not _SITE_LABEL_RE.fullmatch(label):
            raise ConfigError(
                f"FOOTFALL_LOG_SOURCES: site label {label!r} in {entry!r} must be 1 to 63 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit (for example shop or blog.example.org)"
            )
        if not pattern:
            raise ConfigError(f"FOOTFALL_LOG_SOURCES: {entry!r} has no glob after '='")
        sources.append(LogSource(label, pattern, "FOOTFALL_LOG_SOURCES"))
    seen: dict[str, LogSource] = {}
    for source in sources:
        other = seen.get(source.glob)
        if other is None:
            seen[source.glob] = source
        elif other.site == source.site:
            raise ConfigError(
                f"the glob {source.glob!r} is configured twice for site {source.site!r} "
                "(FOOTFALL_LOG_GLOB with FOOTFALL_SITE, or FOOTFALL_LOG_SOURCES); give it once"
            )
        else:
            raise ConfigError(
                f"the glob {source.glob!r} is configured for two sites, {other.site!r} and {source.site!r} "
                "(unlabelled globs of FOOTFALL_LOG_GLOB belong to FOOTFALL_SITE); a log file belongs to one site"
            )
    return tuple(sources)
