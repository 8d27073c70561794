"""The model catalogue: every aggregate table declared once, and how a model is run.

Each model is one SQL file in ``transforms/models/sql/<name>.sql`` and one :class:`Model`
entry in :data:`MODELS`. The entry drives the rebuild order (:data:`AGGREGATE_TABLES`,
topological from ``depends_on``), the retention class, the rollup rule or the reason there is
none (``warehouse/retention.py``), the export (``warehouse/export.py``), the snapshot's tables
(``warehouse/snapshot.py``), and, for a model without a hand-written DDL file, the table's DDL
(:func:`table_ddl`: the columns and types of the model's query, the primary key from its
grain). Models read the events through the macros of ``warehouse/ddl/003_macros.sql`` and take
their values as named parameters (:func:`model_params`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

MODELS_DIR = Path(__file__).with_name("sql")
_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Model:
    """One aggregate table and the SQL file that fills it, per day, from the events.

    Attributes:
        name: the table, and ``sql/<name>.sql``.
        grain: the columns one row is unique for (the table's primary key when its DDL is derived).
        depends_on: models of the same days this one reads: rebuilt before it.
        day: SQL over a row giving the day (in FOOTFALL_TIMEZONE) it belongs to; rebuilds,
            migrations, retention and export delete, keep or select rows by it.
        retention: ``"aggregates"`` (kept FOOTFALL_RETENTION_AGGREGATES_DAYS) or ``"visitors"``
            (visit or visitor grain, kept FOOTFALL_RETENTION_VISITORS_DAYS and never rolled up).
        no_rollup: why a daily aggregate has no monthly rollup (``warehouse/rollups.py`` has
            the rollups); ``None`` for one that has a rollup, and for visitor tables.
        export: ``cli export`` offers it by day range.
        ddl: the hand-written DDL file in ``warehouse/ddl/`` that creates the table, or ``None``:
            the table is created from the model's query (:func:`table_ddl`).
    """

    name: str
    grain: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    day: str = "day"
    retention: str = "aggregates"
    no_rollup: str | None = None
    export: bool = True
    ddl: str | None = None


_AGGREGATES_DDL, _VISITOR_DDL = "002_aggregates.sql", "006_visitor_tables.sql"
_HOURLY = "hour-level detail"
MODELS: tuple[Model, ...] = (
    # docs/metrics.md
    Model("traffic_hourly", ("hour",), no_rollup=f"{_HOURLY}; its hits, page views and visits are in "
          "traffic_monthly and visits_monthly", export=False, ddl=_AGGREGATES_DDL),
    Model("visits_daily", ("day",), depends_on=("traffic_hourly",), ddl=_AGGREGATES_DDL),
    Model("daily_traffic", ("day",), depends_on=("visits_daily",), ddl=_AGGREGATES_DDL),
    Model("status_daily", ("day", "status"), ddl=_AGGREGATES_DDL),
    Model("page_daily", ("day", "path"), ddl=_AGGREGATES_DDL),
    Model("hourly_traffic", ("hour",), day="cast(hour as date)", no_rollup=f"{_HOURLY}; its page views, paths, "
          "user agents (as devices) and countries are in the monthly rollups of the daily tables", ddl=_AGGREGATES_DDL),
    Model("referrers_daily", ("day", "referrer_class", "referrer_domain", "utm_source", "utm_medium", "utm_campaign"),
          ddl=_AGGREGATES_DDL),
    Model("devices_daily", ("day", "device_type", "browser_family", "os_family"), ddl=_AGGREGATES_DDL),
    Model("countries_daily", ("day", "country_code"), ddl=_AGGREGATES_DDL),
    Model("bots_daily", ("day", "crawler_name"), ddl=_AGGREGATES_DDL),
    Model("entry_pages_daily", ("day", "path"), export=False, ddl=_AGGREGATES_DDL),
    Model("error_paths_daily", ("day", "status", "path"), export=False, ddl=_AGGREGATES_DDL),
    Model("status_class_daily", ("day", "status_class"), no_rollup="status_monthly holds its monthly hits, "
          "by status: sum them by status // 100"),
    # docs/communities.md
    Model("visitor_daily", ("day", "visitor_key"), retention="visitors", export=False, ddl=_VISITOR_DDL),
    Model("visitor_hourly", ("day", "hour", "visitor_key", "community_slug"), retention="visitors", export=False,
          ddl=_VISITOR_DDL),
    Model("post_views_daily", ("day", "post_id", "visitor_key", "country_code", "device_type", "referrer_domain"),
          retention="visitors", export=False, ddl=_VISITOR_DDL),
    Model("conversions_daily", ("day",), ddl=_VISITOR_DDL),
    Model("peak_visitors_daily", ("day", "community_slug"), no_rollup="a peak is a maximum over 5-minute windows, "
          "not a sum; peak_visitors(grain) answers weeks and months while the daily rows are kept", ddl=_VISITOR_DDL),
    Model("current_visitors_daily", ("day", "community_slug"),
          no_rollup="the last 5 minutes of a day matter only for the newest day", export=False, ddl=_VISITOR_DDL),
)  # fmt: skip
BY_NAME: dict[str, Model] = {m.name: m for m in MODELS}


def _rebuild_order(models: tuple[Model, ...]) -> tuple[str, ...]:
    """The models' names, each after every model it depends on, otherwise in declaration order.

    Raises:
        ValueError: a model depends on an unknown model, or the dependencies form a cycle.
    """
    names = {m.name for m in models}
    order: list[str] = []
    pending = list(models)
    while pending:
        ready = next((m for m in pending if set(m.depends_on) <= set(order)), None)
        if ready is None:
            unknown = {d for m in pending for d in m.depends_on} - names
            raise ValueError(f"models depend on unknown models {sorted(unknown)}" if unknown else
                             f"the dependencies of {[m.name for m in pending]} form a cycle")  # fmt: skip
        order.append(ready.name)
        pending.remove(ready)
    return tuple(order)


# The tables the rebuild fills, in the order it fills them.
AGGREGATE_TABLES: tuple[str, ...] = _rebuild_order(MODELS)


def aggregate_day(table: str) -> str:
    """SQL expression giving the day of a row of ``table``: its model's ``day``, or ``day`` for a
    relation that is not a model (a view)."""
    model = BY_NAME.get(table)
    return model.day if model else "day"


@dataclass(frozen=True)
class ModelParams:
    """How the aggregate models count (from Settings).

    Attributes:
        timezone: IANA name; days and hours are wall-clock in this zone (FOOTFALL_TIMEZONE).
        include_crawlers: count crawlers in page views, visitors and visits (FOOTFALL_COUNT_CRAWLERS).
        session_gap_s: a visit ends after this many seconds without a page view.
    """

    timezone: str = "UTC"
    include_crawlers: bool = False
    session_gap_s: int = 1800


def model_sql(name: str) -> str:
    """The text of ``transforms/models/sql/<name>.sql``."""
    return (MODELS_DIR / f"{name}.sql").read_text()


def run_model(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object]) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` binding only the ``$name`` parameters it uses (DuckDB refuses extras)."""
    used = set(_PARAM_RE.findall(sql))
    return con.execute(sql, {k: v for k, v in params.items() if k in used})


def model_params(days: list[dt.date], params: ModelParams) -> dict[str, object]:
    """Named parameters for the models over ``days``."""
    return {
        "days": days,
        "tz": params.timezone,
        "include_crawlers": params.include_crawlers,
        "session_gap_s": params.session_gap_s,
        # hourly_traffic also filters on a time range: whole days here (±1 day covers any offset).
        "start": dt.datetime.combine(days[0] - dt.timedelta(days=1), dt.time(), dt.UTC),
        "end": dt.datetime.combine(days[-1] + dt.timedelta(days=2), dt.time(), dt.UTC),
    }


def table_ddl(con: duckdb.DuckDBPyConnection, model: Model, params: ModelParams) -> str:
    """``create table`` for a model without a hand-written DDL file: the columns and types of
    its query (bound on no day, so nothing is read), the primary key from its grain.

    Raises:
        duckdb.Error: the query does not bind (the ``events`` view must exist).
    """
    values = model_params([dt.date(2000, 1, 1)], params) | {"days": []}
    probe = f"_ddl_{model.name}"
    run_model(con, f"create or replace temp table {probe} as select * from ({model_sql(model.name)}) limit 0", values)
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = 'temp' and table_name = ?"
        " order by column_index",
        [probe],
    ).fetchall()
    con.execute(f"drop table temp.{probe}")
    body = ",\n    ".join([*(f"{name} {kind}" for name, kind in columns), f"primary key ({', '.join(model.grain)})"])
    return f"create table if not exists {model.name} (\n    {body}\n)"
