"""The environment variables footfall reads: one declaration, and the check for unknown ones.

:data:`VARIABLES` is the only list of names. :meth:`warehouse.settings.Settings.from_env` reads
the environment through :func:`declared`, which refuses a name that is not declared here, so a
new setting cannot be read without being declared, and a declared name is what
:func:`unknown_variables` accepts. An unknown ``FOOTFALL_*`` or ``VISIT_TRACKING_*`` variable is
almost always a typo (``FOOTFALL_LOG_GLOBS``, ``FOOTFALL_TIMEZON``) that would otherwise be
ignored silently: ``python -m warehouse.cli check`` fails on it, naming the closest known
variable, and the ingest DAG's first task logs the same as a warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

# The prefixes footfall owns: a variable with one of them that is not declared is reported.
PREFIXES = ("FOOTFALL_", "VISIT_TRACKING_")

# name -> what it sets (README.md, "Configuration", has the defaults and details).
VARIABLES: dict[str, str] = {
    "FOOTFALL_LOG_GLOB": "glob(s) of access logs of FOOTFALL_SITE, separated by ':'",
    "FOOTFALL_LOG_SOURCES": "site=glob entries of access logs, separated by ':'",
    "FOOTFALL_LOG_FORMAT": "the nginx log_format of the logs, or a known format's name",
    "FOOTFALL_DATA_DIR": "where the warehouse, Parquet and reports go",
    "FOOTFALL_SECRETS_DIR": "daily visitor salts and the generated development key",
    "FOOTFALL_HASH_KEY": "secret key of client_ip_hash",
    "FOOTFALL_SITE": "site of the globs in FOOTFALL_LOG_GLOB",
    "FOOTFALL_CHUNK_BYTES": "bytes of log parsed at once",
    "FOOTFALL_PARSE_THREADS": "chunks of one work unit parsed concurrently",
    "FOOTFALL_MAP_CHUNK_BYTES": "most bytes of a plain log one parse task reads",
    "FOOTFALL_MAP_MAX_UNITS": "work units per ingest run at most",
    "FOOTFALL_MAX_REJECT_RATE": "fraction of a file's lines that may be quarantined",
    "FOOTFALL_TIMEZONE": "IANA time zone of days and hours",
    "FOOTFALL_COUNT_CRAWLERS": "count crawlers in page views, visitors and visits",
    "FOOTFALL_SESSION_GAP_S": "seconds without a page view that end a visit",
    "FOOTFALL_SITE_HOSTS": "host names whose referrers are internal",
    "FOOTFALL_TRUSTED_PROXIES": "CIDRs of proxies in front of nginx",
    "FOOTFALL_SENSITIVE_PARAMS": "query parameters removed from stored paths and referrers",
    "FOOTFALL_CRAWLER_PATTERNS": "extra regular expression of crawler user agents",
    "FOOTFALL_REDACT_REQUEST_ADDRESSES": "store addresses inside requests as <address>",
    "FOOTFALL_FUTURE_TOLERANCE_S": "seconds a line's time may be after the time it is read",
    "FOOTFALL_STAGING_URL": "where parse tasks leave staged files: unset (the data dir) or s3://bucket/prefix",
    "FOOTFALL_STORAGE_CONN_ID": "the Airflow Connection of FOOTFALL_STAGING_URL's object store",
    "GEOIP_DATABASE": "a GeoLite2/GeoIP2 City .mmdb",
    "FOOTFALL_SALT_MAX_AGE_H": "hours a daily visitor salt is kept",
    "FOOTFALL_USER_ID_FIELD": "the log_format variable carrying the signed-in user's id",
    "FOOTFALL_SESSION_FIELD": "the log_format variable carrying the session id",
    "FOOTFALL_ROUTES": "TOML file of URL patterns",
    "FOOTFALL_DIMENSIONS_DIR": "directory of the dimension files",
    "FOOTFALL_GROWTH_STABLE_PCT": "percent within which the growth view says stable",
    "FOOTFALL_RETENTION_EVENTS_DAYS": "days raw events are kept",
    "FOOTFALL_RETENTION_QUARANTINE_DAYS": "days quarantined lines are kept",
    "FOOTFALL_RETENTION_AGGREGATES_DAYS": "days daily aggregates are kept (unset: forever)",
    "FOOTFALL_RETENTION_VISITORS_DAYS": "days per-day visit and visitor tables are kept",
    "VISIT_TRACKING_ENABLED": "send reports to VISIT_TRACKING_API",
    "VISIT_TRACKING_API": "the reporting endpoint",
    "FOOTFALL_DAILY_SUMMARY_API": "where daily summaries go, if elsewhere",
    "VISIT_TRACKING_INTERVAL": "seconds between ingest runs and length of a report's interval",
    "VISIT_TRACKING_API_TOKEN": "bearer token sent with each report",
    "VISIT_TRACKING_SIGNING_SECRET": "secret of the reports' HMAC-SHA256 signature",
    "FOOTFALL_REPORT_TIMEOUT_S": "read timeout of one POST",
    "FOOTFALL_REPORT_CONNECT_TIMEOUT_S": "connect timeout of one POST",
    "FOOTFALL_REPORT_ATTEMPTS": "POST attempts per report in one delivery run",
    "FOOTFALL_REPORT_MAX_BACKOFF_S": "longest backoff between attempts",
    "FOOTFALL_REPORT_BATCH": "reports one delivery run sends at most",
    "FOOTFALL_REPORT_TOP_N": "entries listed per map of a report",
    # The analytics API's (analytics/settings.py, docs/api.md).
    "FOOTFALL_API_HOST": "where the analytics API listens",
    "FOOTFALL_API_PORT": "the analytics API's port",
    "FOOTFALL_API_CACHE_ENTRIES": "answers the analytics API keeps per snapshot generation",
    "FOOTFALL_DASHBOARD_FRAME_ANCESTORS": "who may show the dashboard in a frame",
    # Not settings: the repository root (Makefile, airflow.cfg) and the test-only crash switch
    # of warehouse/failpoints.py.
    "FOOTFALL_REPO": "the repository root, set by the Makefile",
    "FOOTFALL_FAILPOINT": "test only: crash at the named failpoint",
}
# Declared variables read elsewhere than Settings.from_env: the analytics API's (read through
# declared() too, by analytics.settings.ApiSettings.from_env), and the two that are not settings.
API_VARIABLES = frozenset(
    {"FOOTFALL_API_HOST", "FOOTFALL_API_PORT", "FOOTFALL_API_CACHE_ENTRIES", "FOOTFALL_DASHBOARD_FRAME_ANCESTORS"}
)
INTERNAL = frozenset({"FOOTFALL_REPO", "FOOTFALL_FAILPOINT"})
NOT_SETTINGS = API_VARIABLES | INTERNAL


class _Declared(Mapping):
    """A read-only view of an environment that refuses to read an undeclared name."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, name: str) -> str:
        if name not in VARIABLES:
            # A programming error, not an operator's: every name footfall reads is declared above.
            raise KeyError(f"{name} is read but not declared in warehouse.environment.VARIABLES")
        return self._env[name]

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            if name not in VARIABLES:
                raise
            return default

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._env if name in VARIABLES)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def declared(env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` as a mapping that raises ``KeyError`` when code reads a name not in :data:`VARIABLES`."""
    return env if isinstance(env, _Declared) else _Declared(env)


def _stem(name: str) -> str:
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def closest_known(name: str) -> str | None:
    """The declared variable most like ``name``, or None.

    Compared without their prefixes (``difflib``, similarity at least 0.6): the shared
    ``FOOTFALL_`` would make every name look alike, and a setting under the wrong prefix
    (``FOOTFALL_ENABLED``) is found under the right one (``VISIT_TRACKING_ENABLED``).
    """
    stems = {_stem(known): known for known in VARIABLES}
    matches = difflib.get_close_matches(_stem(name), stems, n=1, cutoff=0.6)
    return stems[matches[0]] if matches else None


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Variables of ``env`` with a footfall prefix (:data:`PREFIXES`) that footfall does not read.

    Returns:
        ``(name, closest known name or None)`` pairs, sorted by name.
    """
    names = sorted(n for n in env if n.startswith(PREFIXES) and n not in VARIABLES)
    return [(name, closest_known(name)) for name in names]


def describe_unknown(unknown: list[tuple[str, str | None]]) -> str:
    """One line per unknown variable, saying what it is probably meant to be."""
    lines = []
    for name, known in unknown:
        if known is None:
            lines.append(f"{name} is not a footfall setting (README.md, Configuration, lists them); unset it")
        else:
            lines.append(f"{name} is not a footfall setting; did you mean {known} ({VARIABLES[known]})?")
    return "\n".join(lines)
