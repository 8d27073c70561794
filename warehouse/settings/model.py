"""The settings of one footfall deployment, each declared once (docs/operators/settings.md is
generated from this file: ``python -m warehouse.settings --markdown``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import InstanceOf, field_validator, model_validator

from parsers.log_format import COMBINED, LogFormat
from transforms.secret_files import SecretsAccessError, check_private_dir
from warehouse.settings.declare import Declared, setting
from warehouse.settings.sources import LogSource
from warehouse.settings.values import ConfigError, check_header_secret, check_log_variable, check_url

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def _in_data_dir(name: str) -> property:
    return property(lambda self: self.data_dir / name, doc=f"``data_dir / {name!r}``")


class Settings(Declared):
    """Configuration of one footfall deployment: every field below is one environment variable
    (``setting(default, variable, group, kind, description, ...)``), except ``log_sources``,
    read from three of them. Frozen; secret fields are left out of ``repr``.

    Built with :meth:`from_env`; consumers read fields by name (``settings.chunk_bytes``). The
    groups are the sections of the settings reference.
    """

    # -- storage
    data_dir: Path = setting(
        REPO_ROOT / "data", "FOOTFALL_DATA_DIR", "storage", "path",
        "where the warehouse, Parquet and reports go",
        details="holds `warehouse.duckdb`, `analytics.duckdb`, `events/`, `quarantine/`, `staging/`, "
        "`reports/` and `outbox/`",
        shown_default="`./data` (in the repository)",
    )  # fmt: skip
    secrets_dir: Path = setting(
        REPO_ROOT / ".secrets", "FOOTFALL_SECRETS_DIR", "storage", "path",
        "daily visitor salts and the generated development key",
        details="must be outside the data dir and open to no other user (footfall creates it 0700, its files "
        "0600); never commit it",
        shown_default="`./.secrets` (in the repository)",
    )  # fmt: skip
    staging_url: str | None = setting(
        None, "FOOTFALL_STAGING_URL", "storage", "staging_url",
        "where parse tasks leave staged files for the commit",
        details="unset: `staging/` in the data dir, on a filesystem every host mounts; `s3://bucket/prefix`: "
        "object storage, reached through the Airflow Connection `FOOTFALL_STORAGE_CONN_ID` "
        "([object storage](scaling.md#object-storage))",
        shown_default="`staging/` in the data dir",
    )  # fmt: skip
    storage_conn_id: str = setting(
        "footfall_storage", "FOOTFALL_STORAGE_CONN_ID", "storage", "text",
        "Airflow Connection of FOOTFALL_STAGING_URL's object store",
        details="type `aws`: its login and password are the access key and secret, `endpoint_url` in its extra "
        "for a store other than AWS's",
    )  # fmt: skip

    # -- ingest
    log_glob: str | None = setting(
        None, "FOOTFALL_LOG_GLOB", "ingest", "globs",
        "glob(s) of access logs of FOOTFALL_SITE, separated by ':'",
        details="plain or `.gz`; several separated by `:`; their lines belong to `FOOTFALL_SITE`",
        shown_default="the bundled sample",
    )  # fmt: skip
    labelled_log_globs: str | None = setting(
        None, "FOOTFALL_LOG_SOURCES", "ingest", "labelled_globs",
        "site=glob entries of access logs, separated by ':'",
        details="globs labelled with a site (vhost): `shop=/var/log/nginx/shop*.log:blog=/var/log/nginx/blog/*.log` "
        "([sites](operations.md#sites)); with only this set, the sample is not read",
    )  # fmt: skip
    site: str = setting(
        "default", "FOOTFALL_SITE", "ingest", "text",
        "site of the globs in FOOTFALL_LOG_GLOB",
        details="the events' `site` column, mixed into visitor ids",
    )  # fmt: skip
    log_format: InstanceOf[LogFormat] = setting(
        COMBINED, "FOOTFALL_LOG_FORMAT", "ingest", "log_format",
        "the nginx log_format of the logs, or a known format's name",
        details="exactly as written in nginx.conf (quoted segments or the whole `log_format name ...;` directive "
        "are fine), or a known format's name: `combined`, `main`, `common`, `vcombined`, `vcommon` "
        "([log formats](operations.md#log-formats)); `escape=json` templates are read as JSON",
        shown_default="`combined`",
    )  # fmt: skip
    chunk_bytes: int = setting(
        8 * MiB, "FOOTFALL_CHUNK_BYTES", "ingest", "positive_int",
        "bytes of log parsed at once", unit="bytes", details="bounds memory",
    )  # fmt: skip
    parse_threads: int = setting(
        2, "FOOTFALL_PARSE_THREADS", "ingest", "positive_int",
        "chunks of one work unit parsed concurrently", unit="threads",
    )  # fmt: skip
    map_chunk_bytes: int = setting(
        64 * MiB, "FOOTFALL_MAP_CHUNK_BYTES", "ingest", "positive_int",
        "most bytes of a plain log one parse task reads", unit="bytes",
        details="a work unit, cut at a line end; a `.gz` is one unit ([work units](operations.md#work-units))",
    )  # fmt: skip
    map_max_units: int = setting(
        256, "FOOTFALL_MAP_MAX_UNITS", "ingest", "positive_int",
        "work units per ingest run at most", unit="work units",
        details="and never more than Airflow's `[core] max_map_length`; the rest is read by the next runs",
    )  # fmt: skip
    max_reject_rate: float = setting(
        0.05, "FOOTFALL_MAX_REJECT_RATE", "ingest", "fraction",
        "fraction of a file's lines that may be quarantined", unit="fraction",
        details="of the lines read in one run; above it the read is rejected and the ingest run fails, naming the "
        "file, the rate and the top reasons (the log format is probably wrong). Reads under 20 lines are "
        "rejected only when no line parsed; `1` never rejects "
        "([rejected reads](../analysts/schema.md#rejected-reads))",
    )  # fmt: skip
    future_tolerance_s: int = setting(
        86400, "FOOTFALL_FUTURE_TOLERANCE_S", "ingest", "non_negative_int",
        "seconds a line's time may be after the time it is read", unit="s",
        details="later lines are quarantined as `future_time`, and a report interval ending that far after the "
        "clock is refused at once instead of waited for",
    )  # fmt: skip

    # -- metrics
    timezone: str = setting(
        "UTC", "FOOTFALL_TIMEZONE", "metrics", "timezone",
        "IANA time zone of days and hours",
        details="in every aggregate and report, and of the daily visitor salt; daylight-saving changes included",
    )  # fmt: skip
    count_crawlers: bool = setting(
        False, "FOOTFALL_COUNT_CRAWLERS", "metrics", "bool",
        "count crawlers in page views, visitors and visits",
        details="and other non-human clients; they are always in hits and `bots_daily`",
    )  # fmt: skip
    session_gap_s: int = setting(
        1800, "FOOTFALL_SESSION_GAP_S", "metrics", "positive_int",
        "seconds without a page view that end a visit", unit="s",
    )  # fmt: skip
    site_hosts: tuple[str, ...] = setting(
        (), "FOOTFALL_SITE_HOSTS", "metrics", "hosts",
        "host names whose referrers are internal", details="and their subdomains", shown_default="",
    )  # fmt: skip
    crawler_patterns: str | None = setting(
        None, "FOOTFALL_CRAWLER_PATTERNS", "metrics", "regex",
        "extra regular expression of crawler user agents",
        details="matching user agents (case-insensitive) count as crawlers; `|` for several",
    )  # fmt: skip
    geoip_database: Path | None = setting(
        None, "GEOIP_DATABASE", "metrics", "mmdb", "a GeoLite2/GeoIP2 City .mmdb",
        shown_default="the GeoLite2 City file of `maxminddb-geolite2` (2018)",
    )  # fmt: skip
    user_id_field: str | None = setting(
        None, "FOOTFALL_USER_ID_FIELD", "metrics", "log_variable",
        "the log_format variable carrying the signed-in user's id",
        details="e.g. `upstream_http_x_user_id`; hashed at parse time "
        "([communities](../analysts/communities.md))",
        shown_default="`remote_user` (when the format logs it)",
    )  # fmt: skip
    session_field: str | None = setting(
        None, "FOOTFALL_SESSION_FIELD", "metrics", "log_variable",
        "the log_format variable carrying the session id",
        details="e.g. `cookie_sessionid`; hashed with the daily salt",
    )  # fmt: skip
    routes: Any = setting(
        None, "FOOTFALL_ROUTES", "metrics", "toml_file", "TOML file of URL patterns",
        details="URL patterns → page type, community and post "
        "([routes](../analysts/communities.md#routes-footfall_routes-a-toml-file); example `config/routes.toml`)",
    )  # fmt: skip
    dimensions_dir: Path | None = setting(
        None, "FOOTFALL_DIMENSIONS_DIR", "metrics", "dimensions_dir", "directory of the dimension files",
        details="the `divisions`, `communities`, `content` and `users` files, CSV or Parquet "
        "(example `config/dimensions/`)",
    )  # fmt: skip
    growth_stable_pct: float = setting(
        5.0, "FOOTFALL_GROWTH_STABLE_PCT", "metrics", "positive_float",
        "percent within which the growth view says stable", unit="%",
        details="the `growth` view calls a change within ± this many percent `stable`",
    )  # fmt: skip

    # -- privacy
    hash_key: str | None = setting(
        None, "FOOTFALL_HASH_KEY", "privacy", "secret", "secret key of client_ip_hash",
        details="the Airflow Variable `footfall_hash_key` wins when set",
        shown_default="generated into the secrets dir", secret=True,
    )  # fmt: skip
    salt_max_age_h: int = setting(
        48, "FOOTFALL_SALT_MAX_AGE_H", "privacy", "positive_int", "hours a daily visitor salt is kept", unit="h",
        details="older salts are deleted ([privacy](privacy.md))",
    )  # fmt: skip
    trusted_proxies: tuple[str, ...] = setting(
        (), "FOOTFALL_TRUSTED_PROXIES", "privacy", "cidrs", "CIDRs of proxies in front of nginx",
        details="the client is then the right-most `X-Forwarded-For` address outside them", shown_default="",
    )  # fmt: skip
    sensitive_params: tuple[str, ...] | None = setting(
        None, "FOOTFALL_SENSITIVE_PARAMS", "privacy", "names",
        "query parameters removed from stored paths and referrers",
        shown_default="`token, access_token, session, sid, password, email, key, signature`",
    )  # fmt: skip
    redact_request_addresses: bool = setting(
        True, "FOOTFALL_REDACT_REQUEST_ADDRESSES", "privacy", "bool",
        "store addresses inside requests as <address>",
        details="IPv4 and IPv6 addresses in paths, queries, referrers, hosts and user agents (version numbers "
        "shaped like addresses too); `false` stores them as logged "
        "([addresses inside requests](privacy.md#addresses-inside-requests))",
    )  # fmt: skip

    # -- retention
    retention_events_days: int = setting(
        7, "FOOTFALL_RETENTION_EVENTS_DAYS", "retention", "positive_int", "days raw events are kept", unit="days",
        details="then deleted by `footfall_retention` ([retention](operations.md#retention))",
    )  # fmt: skip
    retention_quarantine_days: int = setting(
        7, "FOOTFALL_RETENTION_QUARANTINE_DAYS", "retention", "positive_int", "days quarantined lines are kept",
        unit="days", details="and rejected lines",
    )  # fmt: skip
    retention_aggregates_days: int | None = setting(
        None, "FOOTFALL_RETENTION_AGGREGATES_DAYS", "retention", "positive_int",
        "days daily aggregates are kept (unset: forever)", unit="days",
        details="then rolled up into monthly tables (kept forever) and deleted; at least "
        "`FOOTFALL_RETENTION_EVENTS_DAYS`. Unset, they are kept forever (they hold no personal data)",
        shown_default="unset: forever",
    )  # fmt: skip
    retention_visitors_days: int = setting(
        90, "FOOTFALL_RETENTION_VISITORS_DAYS", "retention", "positive_int",
        "days per-day visit and visitor tables are kept", unit="days",
        details="at least `FOOTFALL_RETENTION_EVENTS_DAYS`",
    )  # fmt: skip

    # -- reporting
    visit_tracking_interval: int = setting(
        1800, "VISIT_TRACKING_INTERVAL", "reporting", "positive_int",
        "seconds between ingest runs and length of a report's interval", unit="s",
        details="the schedule of the ingest, report and delivery DAGs",
    )  # fmt: skip
    visit_tracking_enabled: bool = setting(
        False, "VISIT_TRACKING_ENABLED", "reporting", "bool", "send reports to VISIT_TRACKING_API",
        details="otherwise they wait in the outbox and are also written to `$FOOTFALL_DATA_DIR/outbox/`",
    )  # fmt: skip
    visit_tracking_api: str | None = setting(
        None, "VISIT_TRACKING_API", "reporting", "url", "the reporting endpoint",
    )  # fmt: skip
    daily_summary_api: str | None = setting(
        None, "FOOTFALL_DAILY_SUMMARY_API", "reporting", "url", "where daily summaries go, if elsewhere",
        shown_default="`VISIT_TRACKING_API`",
    )  # fmt: skip
    visit_tracking_api_token: str | None = setting(
        None, "VISIT_TRACKING_API_TOKEN", "reporting", "secret", "bearer token sent with each report",
        details="the password of the Airflow Connection `reporting_api` wins", secret=True,
    )  # fmt: skip
    visit_tracking_signing_secret: str | None = setting(
        None, "VISIT_TRACKING_SIGNING_SECRET", "reporting", "secret", "secret of the reports' HMAC-SHA256 signature",
        details="when set, each request carries the signature; the Connection's extra `signing_secret` wins",
        secret=True,
    )  # fmt: skip
    report_timeout_s: float = setting(
        10.0, "FOOTFALL_REPORT_TIMEOUT_S", "reporting", "positive_float", "read timeout of one POST", unit="s",
        details="also its write and pool timeout",
    )  # fmt: skip
    report_connect_timeout_s: float = setting(
        5.0, "FOOTFALL_REPORT_CONNECT_TIMEOUT_S", "reporting", "positive_float", "connect timeout of one POST",
        unit="s",
    )  # fmt: skip
    report_attempts: int = setting(
        5, "FOOTFALL_REPORT_ATTEMPTS", "reporting", "positive_int", "POST attempts per report in one delivery run",
        unit="attempts", details="short backoff in between; after that the report waits in the outbox",
    )  # fmt: skip
    report_max_backoff_s: float = setting(
        900.0, "FOOTFALL_REPORT_MAX_BACKOFF_S", "reporting", "positive_float", "longest backoff between attempts",
        unit="s", details="`Retry-After` may ask for more",
    )  # fmt: skip
    report_batch: int = setting(
        100, "FOOTFALL_REPORT_BATCH", "reporting", "positive_int", "reports one delivery run sends at most",
        unit="reports",
    )  # fmt: skip
    report_top_n: int = setting(
        50, "FOOTFALL_REPORT_TOP_N", "reporting", "positive_int", "entries listed per map of a report",
        unit="entries",
        details="paths, user agents, countries (per hour) and pages (per day); the rest is summed under `(other)`",
    )  # fmt: skip

    # Not a variable: the globs of FOOTFALL_LOG_GLOB (site FOOTFALL_SITE) then the site=glob entries
    # of FOOTFALL_LOG_SOURCES, in configuration order (warehouse.log_sources.read_log_sources).
    log_sources: tuple[InstanceOf[LogSource], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _read_log_sources(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("log_sources"):
            from warehouse.log_sources import read_log_sources  # it imports this package

            site = data.get("FOOTFALL_SITE") or data.get("site") or "default"
            globs = {
                "FOOTFALL_LOG_GLOB": data.get("FOOTFALL_LOG_GLOB") or data.get("log_glob"),
                "FOOTFALL_LOG_SOURCES": data.get("FOOTFALL_LOG_SOURCES") or data.get("labelled_log_globs"),
            }
            data = {**data, "log_sources": read_log_sources(globs, site)}
        return data

    @field_validator("secrets_dir", mode="after")
    @classmethod
    def _private_secrets_dir(cls, secrets_dir: Path, info) -> Path:
        data_dir = info.data.get("data_dir")
        if data_dir is not None and (secrets_dir == data_dir or data_dir in secrets_dir.parents):
            raise ConfigError(
                f"FOOTFALL_SECRETS_DIR ({secrets_dir}) is inside FOOTFALL_DATA_DIR ({data_dir}); "
                "keep salts and keys out of the data dir"
            )
        try:  # every entry point (CLI, each Airflow task, scripts) reads its settings here
            check_private_dir(secrets_dir)
        except SecretsAccessError as exc:
            raise ConfigError(str(exc)) from None
        return secrets_dir

    @field_validator("user_id_field", "session_field", mode="after")
    @classmethod
    def _logged_variable(cls, value: str | None, info) -> str | None:
        fmt = info.data.get("log_format")
        if fmt is None:  # the format itself is wrong: that is the error to show
            return value
        env = cls.model_fields[info.field_name].validation_alias
        default = "remote_user" if info.field_name == "user_id_field" else None
        return check_log_variable(value, env, fmt, default=default)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        # Checked on the model, not on the variables, because the secrets may come from Airflow.
        check_header_secret(
            self.visit_tracking_api_token, "VISIT_TRACKING_API_TOKEN (or the password of Connection reporting_api)"
        )
        if self.visit_tracking_signing_secret is not None and not self.visit_tracking_signing_secret.strip():
            raise ConfigError("VISIT_TRACKING_SIGNING_SECRET is blank; set a long random secret or unset it")
        _check_retention(self)
        return self

    @classmethod
    def from_env(cls, env=None, **overrides) -> Settings:
        """Build settings from environment variables (``os.environ`` when ``env`` is None).

        Keyword overrides (by field name) win over the environment (used for secrets from Airflow).

        Raises:
            ConfigError: a value is malformed (bad number or boolean, a token that cannot go
                in an HTTP header, a log source without a valid site label or configured twice),
                or the secrets dir is inside the data dir or open to other users.
            parsers.variables.LogFormatError: the log format cannot be compiled.
        """
        return cls.read(env, **overrides)

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
                check_url(self.visit_tracking_api, "VISIT_TRACKING_API")
            except ConfigError as exc:
                raise ConfigError(f"VISIT_TRACKING_ENABLED is true but {exc}") from None
            if self.daily_summary_api is not None:
                check_url(self.daily_summary_api, "FOOTFALL_DAILY_SUMMARY_API")

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

    # Where things are under the data dir (docs/analysts/schema.md#data-dir).
    warehouse_path = _in_data_dir("warehouse.duckdb")
    events_dir = _in_data_dir("events")
    quarantine_dir = _in_data_dir("quarantine")
    staging_dir = _in_data_dir("staging")
    reports_dir = _in_data_dir("reports")
    outbox_dir = _in_data_dir("outbox")


def _check_retention(settings: Settings) -> None:
    """Retention periods footfall can honour: nothing derived from the raw events may go before them.

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
