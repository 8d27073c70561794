"""footfall's one settings object, built from the environment.

Every component receives a :class:`Settings`; nothing deeper reads ``os.environ``.
Secrets may also come from Airflow: the hash key from the Variable ``footfall_hash_key``
(:func:`task_settings`), the reporting token and signing secret from the Connection
``reporting_api`` (:func:`reporting_task_settings`). Secret fields are left out of ``repr``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from parsers.log_format import COMBINED, LogFormat, compile_log_format
from transforms.secret_files import SecretsAccessError, check_private_dir
from warehouse.environment import declared
from warehouse.placement import WAREHOUSE_POOL  # noqa: F401  (where it used to be declared)

if TYPE_CHECKING:
    from transforms.routes import Routes

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOG = REPO_ROOT / "tests" / "fixtures" / "apache_combined_sample.log"


class ConfigError(ValueError):
    """A setting has a value footfall cannot run with; the message says what to fix."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _number(env: Mapping[str, str], name: str, default, convert, kind: str, valid, bound: str):
    """``env[name]`` converted with ``convert`` and checked with ``valid``; ``default`` when unset.

    Raises:
        ConfigError: naming the variable and its value: it is not ``kind``, or it must be ``bound``.
    """
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None
    if not valid(value):  # a NaN fails every comparison, so it is refused here too
        raise ConfigError(f"{name}={raw!r} must be {bound}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "a whole number", lambda v: v > 0, "greater than 0")


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number", lambda v: v > 0, "greater than 0")


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(
        env,
        name,
        default,
        float,
        "a number; give a fraction between 0 and 1, e.g. 0.05",
        lambda v: 0 <= v <= 1,
        "between 0 and 1 (a fraction, e.g. 0.05 for 5%)",
    )


def _secret(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def _check_header_secret(value: str | None, what: str) -> None:
    """A secret that goes into an HTTP header must be visible ASCII: anything else would make
    the HTTP library fail with an error that quotes the header, secret included."""
    if value is not None and not all("!" <= c <= "~" for c in value):
        raise ConfigError(
            f"{what} contains spaces, control or non-ASCII characters; "
            "use a token of visible ASCII characters (the value is not shown)"
        )


def _check_url(value: str | None, name: str) -> None:
    url = urlparse(value or "")
    if url.scheme not in {"http", "https"} or not url.netloc:
        raise ConfigError(
            f"{name}={value!r} is not an http(s) URL; set it to the reporting endpoint, "
            "for example https://reports.example.org/api/visits"
        )


def _list(env: Mapping[str, str], name: str, default, convert) -> tuple[str, ...] | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(convert(item.strip()) for item in raw.split(",") if item.strip())


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(
            f"FOOTFALL_TRUSTED_PROXIES: {text!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
        ) from None


def _timezone(env: Mapping[str, str]) -> str:
    name = env.get("FOOTFALL_TIMEZONE") or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"FOOTFALL_TIMEZONE={name!r} is not an IANA time zone name (e.g. Europe/Paris)") from None
    return name


def _regex(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None:
        try:
            re.compile(raw)
        except re.error as exc:
            raise ConfigError(f"{name} is not a valid regular expression: {exc}") from None
    return raw


def _existing_file(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name}={raw!r}: no such file; give the path of a GeoLite2/GeoIP2 City .mmdb database")
    return path


def _log_field(env: Mapping[str, str], name: str, fmt: LogFormat, default: str | None) -> str | None:
    """A log_format variable named by setting ``name``: it must be logged by ``fmt``.

    The default applies only when the format logs it (``combined`` logs ``$remote_user``).
    """
    raw = (env.get(name) or "").strip().lstrip("$")
    if not raw:
        return default if default in fmt.variables else None
    if raw not in fmt.variables:
        raise ConfigError(
            f"{name}={raw!r} is not a variable of FOOTFALL_LOG_FORMAT (it logs "
            + ", ".join("$" + v for v in fmt.variables)
            + "); add it to the log_format in nginx.conf and FOOTFALL_LOG_FORMAT, or unset it"
        )
    return raw


def _routes(env: Mapping[str, str]) -> Routes | None:
    raw = env.get("FOOTFALL_ROUTES") or None
    if raw is None:
        return None
    # Imported here: DAG files import settings, and must not import polars when parsed.
    from transforms.routes import Routes, RoutesConfigError

    try:
        return Routes.load(Path(raw).expanduser())
    except RoutesConfigError as exc:
        raise ConfigError(str(exc)) from None


def _existing_dir(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"{name}={raw!r}: no such directory; point it at the dimension files (docs/communities.md)")
    return path


def _check_retention(settings: Settings) -> None:
    """Retention periods footfall can honour: whole days, at least 1, and nothing derived from
    the raw events may go before them.

    Daily aggregates and the per-day visitor tables are recomputed from the raw events until
    those are deleted; only then are they final (rolled up, then deleted). Deleting them earlier
    would either lose a day from the monthly rollups or have the next rebuild bring it back.
    The aggregates and visitor tables are not ordered against each other: a deployment may
    keep visitor-grain rows for less time than the aggregates, or for more.

    Raises:
        ConfigError: naming the variables to change.
    """
    periods = {
        "FOOTFALL_RETENTION_EVENTS_DAYS": settings.retention_events_days,
        "FOOTFALL_RETENTION_QUARANTINE_DAYS": settings.retention_quarantine_days,
        "FOOTFALL_RETENTION_AGGREGATES_DAYS": settings.retention_aggregates_days,
        "FOOTFALL_RETENTION_VISITORS_DAYS": settings.retention_visitors_days,
    }
    for name, days in periods.items():
        if days is None and name == "FOOTFALL_RETENTION_AGGREGATES_DAYS":
            continue  # unset: daily aggregates are kept forever
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ConfigError(f"{name}={days!r} must be a whole number of days, at least 1")
    events = settings.retention_events_days
    for name in ("FOOTFALL_RETENTION_AGGREGATES_DAYS", "FOOTFALL_RETENTION_VISITORS_DAYS"):
        if periods[name] is not None and periods[name] < events:
            raise ConfigError(
                f"{name}={periods[name]} is shorter than FOOTFALL_RETENTION_EVENTS_DAYS={events}: a day's "
                "aggregates are rebuilt from its raw events until those are deleted, so they cannot be deleted "
                f"first; raise {name} or lower FOOTFALL_RETENTION_EVENTS_DAYS"
            )


@dataclass(frozen=True)
class LogSource:
    """One configured glob of access logs, the site (vhost) its lines belong to, and the
    variable it was configured in (``FOOTFALL_LOG_GLOB``, ``FOOTFALL_LOG_SOURCES``, or empty for
    the bundled sample)."""

    site: str
    glob: str
    variable: str = field(default="FOOTFALL_LOG_GLOB", compare=False)


def report_interval_seconds(env: Mapping[str, str] | None = None) -> int:
    """``VISIT_TRACKING_INTERVAL`` in seconds (default 1800): the schedule of the ingest and
    report DAGs and the length of a report's data interval.

    Raises:
        ConfigError: not a whole number greater than 0.
    """
    return _positive_int(declared(os.environ if env is None else env), "VISIT_TRACKING_INTERVAL", 1800)


@dataclass(frozen=True)
class Settings:
    """Configuration of one footfall deployment.

    Attributes:
        log_sources: the access logs to read (plain or ``.gz``) as :class:`LogSource` (site,
            glob) pairs, in configuration order: the unlabelled globs of ``FOOTFALL_LOG_GLOB``
            (site ``FOOTFALL_SITE``) then the ``site=glob`` entries of ``FOOTFALL_LOG_SOURCES``
            (both lists separated by ``:`` or newlines). :attr:`log_globs` lists the globs.
        log_format: the compiled ``FOOTFALL_LOG_FORMAT`` (default nginx ``combined``).
        data_dir: ``FOOTFALL_DATA_DIR``; holds ``warehouse.duckdb``, ``events/``,
            ``quarantine/``, ``staging/``, ``reports/`` and ``outbox/``.
        secrets_dir: ``FOOTFALL_SECRETS_DIR``; daily visitor salts and the generated
            development hash key. Must not be inside ``data_dir``.
        hash_key: ``FOOTFALL_HASH_KEY`` (or the Airflow Variable ``footfall_hash_key``),
            the secret for ``client_ip_hash``; ``None`` means "use the generated local key".
        site: ``FOOTFALL_SITE``, the site of the unlabelled globs: stored in the events'
            ``site`` column and mixed into their visitor ids.
        chunk_bytes: ``FOOTFALL_CHUNK_BYTES``, bytes of log text parsed at once (bounds memory).
        parse_threads: ``FOOTFALL_PARSE_THREADS``, chunks parsed concurrently per work unit.
        map_chunk_bytes: ``FOOTFALL_MAP_CHUNK_BYTES`` (default 64 MiB), the most bytes of a
            plain source one work unit (one mapped parse task) reads; cut at line ends. A
            ``.gz`` source is always one unit (it cannot be seeked).
        map_max_units: ``FOOTFALL_MAP_MAX_UNITS`` (default 256), work units planned per ingest
            run at most (Airflow also caps mapped tasks at ``[core] max_map_length``, 1024 by
            default); the rest is planned by the next run.
        timezone: ``FOOTFALL_TIMEZONE``, IANA name (default UTC): days, hours and the daily
            visitor salt follow this zone's wall clock, daylight-saving changes included.
        count_crawlers: ``FOOTFALL_COUNT_CRAWLERS`` (default false): count crawlers and other
            non-human clients in page views, visitors and visits (they are always in hits).
        session_gap_s: ``FOOTFALL_SESSION_GAP_S`` (default 1800): a visit ends after this many
            seconds without a page view.
        site_hosts: ``FOOTFALL_SITE_HOSTS``, comma-separated host names of the site: referrers
            from these hosts (and their subdomains) are ``internal``.
        trusted_proxies: ``FOOTFALL_TRUSTED_PROXIES``, comma-separated CIDRs of proxies in front
            of nginx; with ``$http_x_forwarded_for`` logged, the client is the right-most
            forwarded address outside them.
        sensitive_params: ``FOOTFALL_SENSITIVE_PARAMS``, comma-separated query parameter names
            removed from stored paths and referrers; ``None`` means
            ``transforms.referrers.DEFAULT_SENSITIVE_PARAMS``.
        crawler_patterns: ``FOOTFALL_CRAWLER_PATTERNS``, one regular expression (use ``|`` for
            several); user agents matching it (case-insensitive) count as crawlers.
        geoip_database: ``GEOIP_DATABASE``, a GeoLite2/GeoIP2 City ``.mmdb``; ``None`` means the
            GeoLite2 City file shipped with the ``maxminddb-geolite2`` package.
        max_reject_rate: ``FOOTFALL_MAX_REJECT_RATE`` (default 0.05): when more than this
            fraction of the lines read from one source in one run are quarantined, that read is
            rejected and the ingest run fails (the log format is probably wrong); 1 never rejects.
            See :func:`warehouse.ingest.commit.exceeds_reject_rate`.
        salt_max_age_h: ``FOOTFALL_SALT_MAX_AGE_H`` (default 48): daily salts older than this
            are deleted.
        retention_events_days: ``FOOTFALL_RETENTION_EVENTS_DAYS`` (default 7): the raw events of a
            UTC day (its ``events`` partition) are deleted once the day ended this many days ago.
        retention_quarantine_days: ``FOOTFALL_RETENTION_QUARANTINE_DAYS`` (default 7): the same for
            quarantined and rejected lines, by the ``ingest_date`` of their partition.
        retention_aggregates_days: ``FOOTFALL_RETENTION_AGGREGATES_DAYS`` (default unset, ``None``:
            kept forever, never rolled up). When set, rows of the daily aggregate tables (days in
            ``FOOTFALL_TIMEZONE``) are rolled up into the monthly tables and deleted once the day
            ended this many days ago. At least ``retention_events_days``: a day is rolled up only
            after its raw events are gone.
        retention_visitors_days: ``FOOTFALL_RETENTION_VISITORS_DAYS`` (default 90): the same for
            the per-day visit and visitor tables (``warehouse.retention.VISITOR_TABLES``), which
            are not rolled up. At least ``retention_events_days``. All four are whole days, at
            least 1; see :mod:`warehouse.retention` and docs/operations.md#retention.
        visit_tracking_enabled / visit_tracking_api / visit_tracking_interval /
        visit_tracking_api_token: the reporting API, compatible with existing deployments
            (``VISIT_TRACKING_*``). Interval in seconds. The token may also come from the
            Airflow Connection ``reporting_api`` (its password), which wins.
        visit_tracking_signing_secret: ``VISIT_TRACKING_SIGNING_SECRET`` (or the extra field
            ``signing_secret`` of the Connection ``reporting_api``): when set, every request is
            signed with HMAC-SHA256 (docs/reporting.md).
        daily_summary_api: ``FOOTFALL_DAILY_SUMMARY_API``, where daily summaries are POSTed;
            ``None`` means ``visit_tracking_api``.
        report_timeout_s: ``FOOTFALL_REPORT_TIMEOUT_S``, read, write and pool timeout of one
            POST, seconds.
        report_connect_timeout_s: ``FOOTFALL_REPORT_CONNECT_TIMEOUT_S``, connect timeout, seconds.
        report_attempts: ``FOOTFALL_REPORT_ATTEMPTS``, POST attempts per report in one
            delivery run (short waits in between); after that the report waits in the outbox.
        report_max_backoff_s: ``FOOTFALL_REPORT_MAX_BACKOFF_S``, the longest wait the
            exponential backoff schedules between two attempts (``Retry-After`` may ask more).
        report_batch: ``FOOTFALL_REPORT_BATCH``, reports claimed by one delivery run at most.
        report_top_n: ``FOOTFALL_REPORT_TOP_N``, entries listed per map of an hour bucket (and
            pages of a daily summary); the rest is summed under ``"(other)"``.
        user_id_field: ``FOOTFALL_USER_ID_FIELD`` (default ``remote_user``), the log_format
            variable carrying the signed-in user's id; ``None`` when the default is not logged.
        session_field: ``FOOTFALL_SESSION_FIELD``, the variable carrying the session id, or ``None``.
        routes: the rules of the ``FOOTFALL_ROUTES`` TOML file (page type, community, post),
            or ``None``. docs/communities.md describes the file.
        dimensions_dir: ``FOOTFALL_DIMENSIONS_DIR``, the divisions, communities, content and
            users files (CSV or Parquet), or ``None``.
        growth_stable_pct: ``FOOTFALL_GROWTH_STABLE_PCT`` (default 5): a change within this many
            percent is a ``stable`` trend in the ``growth`` view.
        future_tolerance_s: ``FOOTFALL_FUTURE_TOLERANCE_S`` (default 86400): a line dated more than
            this many seconds after it is read is quarantined (``future_time``); no report
            interval ending that far after the clock is waited for (:mod:`warehouse.clock`).
        redact_request_addresses: ``FOOTFALL_REDACT_REQUEST_ADDRESSES`` (default true): IPv4 and
            IPv6 addresses in paths, queries, referrers, hosts and user agents are stored as ``<address>``.
        staging_url / storage_conn_id: ``FOOTFALL_STAGING_URL``, where parse tasks leave staged files for
            the commit (unset: ``staging/`` in the data dir; ``s3://bucket/prefix``: object storage), and
            ``FOOTFALL_STORAGE_CONN_ID`` (default ``footfall_storage``), the Airflow Connection of that store.
            See :mod:`warehouse.staging`.
    """

    log_sources: tuple[LogSource, ...]
    log_format: LogFormat
    data_dir: Path
    secrets_dir: Path
    hash_key: str | None = field(default=None, repr=False)
    site: str = "default"
    chunk_bytes: int = 8 * 1024 * 1024
    parse_threads: int = 2
    map_chunk_bytes: int = 64 * 1024 * 1024
    map_max_units: int = 256
    timezone: str = "UTC"
    count_crawlers: bool = False
    session_gap_s: int = 1800
    site_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    sensitive_params: tuple[str, ...] | None = None
    crawler_patterns: str | None = None
    geoip_database: Path | None = None
    max_reject_rate: float = 0.05
    salt_max_age_h: int = 48
    retention_events_days: int = 7
    retention_quarantine_days: int = 7
    retention_aggregates_days: int | None = None
    retention_visitors_days: int = 90
    visit_tracking_enabled: bool = False
    visit_tracking_api: str | None = None
    visit_tracking_interval: int = 1800
    visit_tracking_api_token: str | None = field(default=None, repr=False)
    visit_tracking_signing_secret: str | None = field(default=None, repr=False)
    daily_summary_api: str | None = None
    report_timeout_s: float = 10.0
    report_connect_timeout_s: float = 5.0
    report_attempts: int = 5
    report_max_backoff_s: float = 900.0
    report_batch: int = 100
    report_top_n: int = 50
    user_id_field: str | None = "remote_user"
    session_field: str | None = None
    routes: Routes | None = field(default=None, compare=False)
    dimensions_dir: Path | None = None
    growth_stable_pct: float = 5.0
    future_tolerance_s: int = 86400
    redact_request_addresses: bool = True
    staging_url: str | None = None
    storage_conn_id: str = "footfall_storage"

    def __post_init__(self) -> None:
        # Checked here, not only in from_env, because the secrets may come from Airflow.
        _check_header_secret(
            self.visit_tracking_api_token, "VISIT_TRACKING_API_TOKEN (or the password of Connection reporting_api)"
        )
        if self.visit_tracking_signing_secret is not None and not self.visit_tracking_signing_secret.strip():
            raise ConfigError("VISIT_TRACKING_SIGNING_SECRET is blank; set a long random secret or unset it")
        _check_retention(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Build settings from environment variables (``os.environ`` when ``env`` is None).

        Keyword overrides win over the environment (used for secrets from Airflow).

        Raises:
            ConfigError: a value is malformed (bad number or boolean, a token that cannot go
                in an HTTP header, a log source without a valid site label or configured twice),
                or the secrets dir is inside the data dir or open to other users.
            parsers.variables.LogFormatError: the log format cannot be compiled.
        """
        env = declared(os.environ if env is None else env)
        site = env.get("FOOTFALL_SITE") or "default"
        data_dir = Path(env.get("FOOTFALL_DATA_DIR") or REPO_ROOT / "data").expanduser().resolve()
        secrets_dir = Path(env.get("FOOTFALL_SECRETS_DIR") or REPO_ROOT / ".secrets").expanduser().resolve()
        if secrets_dir == data_dir or data_dir in secrets_dir.parents:
            raise ConfigError(
                f"FOOTFALL_SECRETS_DIR ({secrets_dir}) is inside FOOTFALL_DATA_DIR ({data_dir}); "
                "keep salts and keys out of the data dir"
            )
        try:  # every entry point (CLI, each Airflow task, scripts) reads its settings here
            check_private_dir(secrets_dir)
        except SecretsAccessError as exc:
            raise ConfigError(str(exc)) from None
        from warehouse.log_sources import read_log_sources  # it imports this module
        from warehouse.staging import DEFAULT_CONN_ID, parse_staging_url  # so does this one

        values = dict(
            log_sources=read_log_sources(env, site),
            log_format=compile_log_format(env.get("FOOTFALL_LOG_FORMAT") or COMBINED),
            data_dir=data_dir,
            secrets_dir=secrets_dir,
            hash_key=env.get("FOOTFALL_HASH_KEY") or None,
            site=site,
            chunk_bytes=_positive_int(env, "FOOTFALL_CHUNK_BYTES", 8 * 1024 * 1024),
            parse_threads=_positive_int(env, "FOOTFALL_PARSE_THREADS", 2),
            map_chunk_bytes=_positive_int(env, "FOOTFALL_MAP_CHUNK_BYTES", 64 * 1024 * 1024),
            map_max_units=_positive_int(env, "FOOTFALL_MAP_MAX_UNITS", 256),
            timezone=_timezone(env),
            count_crawlers=_bool(env, "FOOTFALL_COUNT_CRAWLERS", False),
            session_gap_s=_positive_int(env, "FOOTFALL_SESSION_GAP_S", 1800),
            site_hosts=_list(env, "FOOTFALL_SITE_HOSTS", (), str.lower),
            trusted_proxies=_list(env, "FOOTFALL_TRUSTED_PROXIES", (), _cidr),
            sensitive_params=_list(env, "FOOTFALL_SENSITIVE_PARAMS", None, str.lower),
            crawler_patterns=_regex(env, "FOOTFALL_CRAWLER_PATTERNS"),
            geoip_database=_existing_file(env, "GEOIP_DATABASE"),
            max_reject_rate=_fraction(env, "FOOTFALL_MAX_REJECT_RATE", 0.05),
            salt_max_age_h=_positive_int(env, "FOOTFALL_SALT_MAX_AGE_H", 48),
            retention_events_days=_positive_int(env, "FOOTFALL_RETENTION_EVENTS_DAYS", 7),
            retention_quarantine_days=_positive_int(env, "FOOTFALL_RETENTION_QUARANTINE_DAYS", 7),
            retention_aggregates_days=_positive_int(env, "FOOTFALL_RETENTION_AGGREGATES_DAYS", None),
            retention_visitors_days=_positive_int(env, "FOOTFALL_RETENTION_VISITORS_DAYS", 90),
            visit_tracking_enabled=_bool(env, "VISIT_TRACKING_ENABLED", False),
            visit_tracking_api=env.get("VISIT_TRACKING_API") or None,
            visit_tracking_interval=report_interval_seconds(env),
            visit_tracking_api_token=_secret(env, "VISIT_TRACKING_API_TOKEN"),
            visit_tracking_signing_secret=_secret(env, "VISIT_TRACKING_SIGNING_SECRET"),
            daily_summary_api=env.get("FOOTFALL_DAILY_SUMMARY_API") or None,
            report_timeout_s=_positive_float(env, "FOOTFALL_REPORT_TIMEOUT_S", 10.0),
            report_connect_timeout_s=_positive_float(env, "FOOTFALL_REPORT_CONNECT_TIMEOUT_S", 5.0),
            report_attempts=_positive_int(env, "FOOTFALL_REPORT_ATTEMPTS", 5),
            report_max_backoff_s=_positive_float(env, "FOOTFALL_REPORT_MAX_BACKOFF_S", 900.0),
            report_batch=_positive_int(env, "FOOTFALL_REPORT_BATCH", 100),
            report_top_n=_positive_int(env, "FOOTFALL_REPORT_TOP_N", 50),
            routes=_routes(env),
            dimensions_dir=_existing_dir(env, "FOOTFALL_DIMENSIONS_DIR"),
            growth_stable_pct=_positive_float(env, "FOOTFALL_GROWTH_STABLE_PCT", 5.0),
            future_tolerance_s=_number(
                env, "FOOTFALL_FUTURE_TOLERANCE_S", 86400, int, "a whole number", lambda v: v >= 0, "0 or more"
            ),
            redact_request_addresses=_bool(env, "FOOTFALL_REDACT_REQUEST_ADDRESSES", True),
            staging_url=parse_staging_url(env.get("FOOTFALL_STAGING_URL")),
            storage_conn_id=env.get("FOOTFALL_STORAGE_CONN_ID") or DEFAULT_CONN_ID,
        )
        fmt = values["log_format"]
        values["user_id_field"] = _log_field(env, "FOOTFALL_USER_ID_FIELD", fmt, default="remote_user")
        values["session_field"] = _log_field(env, "FOOTFALL_SESSION_FIELD", fmt, default=None)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def check_reporting(self) -> None:
        """Fail fast when reporting is enabled without a usable endpoint.

        Checked by the delivery step, not at start-up, so a reporting misconfiguration
        stops reports, not ingestion.

        Raises:
            ConfigError: reporting is enabled without an absolute http(s) URL, or
                ``FOOTFALL_DAILY_SUMMARY_API`` is set to something else than one.
        """
        if self.visit_tracking_enabled:
            try:
                _check_url(self.visit_tracking_api, "VISIT_TRACKING_API")
            except ConfigError as exc:
                raise ConfigError(f"VISIT_TRACKING_ENABLED is true but {exc}") from None
            if self.daily_summary_api is not None:
                _check_url(self.daily_summary_api, "FOOTFALL_DAILY_SUMMARY_API")

    def report_endpoint(self, kind: str) -> str | None:
        """The URL reports of ``kind`` (``visits`` or ``daily_summary``) are POSTed to."""
        if kind == "daily_summary" and self.daily_summary_api:
            return self.daily_summary_api
        return self.visit_tracking_api

    @property
    def log_globs(self) -> tuple[str, ...]:
        """Every configured glob, labelled or not, in configuration order."""
        return tuple(source.glob for source in self.log_sources)

    @property
    def model_params(self):
        """The counting rules of the aggregate models (transforms.models.catalogue.ModelParams)."""
        from transforms.models.catalogue import ModelParams

        return ModelParams(self.timezone, self.count_crawlers, self.session_gap_s)

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def events_dir(self) -> Path:
        return self.data_dir / "events"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def task_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings inside an Airflow task: the environment (``os.environ``, or ``env``: the ingest
    DAG passes the environment with its run's Params applied), with the hash key taken from the
    Airflow Variable ``footfall_hash_key`` when it is set."""
    from airflow.sdk import Variable

    key = Variable.get("footfall_hash_key", default=None)
    return Settings.from_env(os.environ if env is None else env, hash_key=key)


REPORTING_CONNECTION = "reporting_api"


def reporting_task_settings() -> Settings:
    """Settings inside an Airflow task that talks to the reporting API.

    The Airflow Connection ``reporting_api``, when defined, wins over the environment: its
    password is the bearer token and its extra field ``signing_secret`` the signing secret.
    Both are registered with Airflow's secrets masker, so a task log never shows them.
    """
    import dataclasses

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
        settings = dataclasses.replace(
            settings,
            visit_tracking_api_token=conn.password or settings.visit_tracking_api_token,
            visit_tracking_signing_secret=extra.get("signing_secret") or settings.visit_tracking_signing_secret,
        )
    for secret in (settings.visit_tracking_api_token, settings.visit_tracking_signing_secret):
        if secret:
            mask_secret(secret)
    return settings
