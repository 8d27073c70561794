"""How each daily aggregate table rolls up into a monthly table kept forever (retention).

:data:`ROLLUPS` is the model of the monthly tables (``warehouse/ddl/007_retention.sql``);
:data:`NOT_ROLLED_UP` says why the other daily tables have none (their models' ``no_rollup``,
:mod:`transforms.models.catalogue`). :func:`rollup_sql` turns one
rollup into the statement :func:`warehouse.retention.roll_up` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms.models.catalogue import MODELS


@dataclass(frozen=True)
class Rollup:
    """How one daily aggregate table rolls up into its monthly table.

    Attributes:
        daily: the daily table (key ``day``).
        monthly: the monthly table (key ``month``, the first day of the month, then ``keys``).
        keys: the grouping columns both tables share, besides the day or month.
        measures: ``(monthly column, SQL expression over a daily row)``; each is summed over the
            days rolled up, so only additive quantities belong here. A daily unique count
            (``visitors``) is summed into a column named for what the sum is (``visitor_days``),
            and a daily average is multiplied back into a total first.
    """

    daily: str
    monthly: str
    keys: tuple[str, ...]
    measures: tuple[tuple[str, str], ...]


_DAYS = ("days", "1")
ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "daily_traffic",
        "traffic_monthly",
        (),
        (
            _DAYS,
            ("hits", "hits"),
            ("page_views", "page_views"),
            ("visitor_days", "visitors"),
            ("bytes", "bytes"),
            ("visits", "visits"),
        ),
    ),
    Rollup(
        "visits_daily",
        "visits_monthly",
        (),
        # avg_visit_duration_s is rounded to 0.1 s per day: the total is exact to 0.05 s per visit.
        (_DAYS, ("visits", "visits"), ("bounces", "bounces"), ("visit_duration_s", "avg_visit_duration_s * visits")),
    ),
    Rollup("status_daily", "status_monthly", ("status",), (_DAYS, ("hits", "hits"))),
    Rollup(
        "page_daily", "page_monthly", ("path",), (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors"))
    ),
    Rollup(
        "referrers_daily",
        "referrers_monthly",
        ("referrer_class", "referrer_domain", "utm_source", "utm_medium", "utm_campaign"),
        (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors")),
    ),
    Rollup(
        "devices_daily",
        "devices_monthly",
        ("device_type", "browser_family", "os_family"),
        (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors")),
    ),
    Rollup(
        "countries_daily",
        "countries_monthly",
        ("country_code",),
        (_DAYS, ("page_views", "page_views"), ("visitor_days", "visitors")),
    ),
    Rollup("bots_daily", "bots_monthly", ("crawler_name",), (_DAYS, ("hits", "hits"), ("bytes", "bytes"))),
    Rollup(
        "conversions_daily",
        "conversions_monthly",
        (),
        (
            _DAYS,
            ("sessions_with_anonymous_hits", "sessions_with_anonymous_hits"),
            ("conversions", "conversions"),
            # The daily average is rounded to 0.1 s: the total is exact to 0.05 s per conversion.
            ("conversion_seconds", "coalesce(avg_seconds_to_conversion * conversions, 0)"),
        ),
    ),
    Rollup(
        "entry_pages_daily", "entry_pages_monthly", ("path",), (_DAYS, ("entries", "entries"), ("bounces", "bounces"))
    ),
    Rollup("error_paths_daily", "error_paths_monthly", ("status", "path"), (_DAYS, ("hits", "hits"))),
)
# Daily aggregate tables deleted after FOOTFALL_RETENTION_AGGREGATES_DAYS without a rollup, and why.
NOT_ROLLED_UP = {m.name: m.no_rollup for m in MODELS if m.no_rollup}


def rollup_sql(rollup: Rollup) -> str:
    """The statement adding the daily rows of ``$days`` to the monthly table.

    Built from :data:`ROLLUPS` rather than kept as eight near-identical ``.sql`` files: the
    mapping is the model, and identifiers come from it only, never from input. The upsert
    adds to a month's existing row, so the month can be rolled up a few days at a time.
    """
    keys = list(rollup.keys)
    columns = ["month", *keys, *(name for name, _ in rollup.measures)]
    select = [
        "cast(date_trunc('month', day) as date) as month",
        *keys,
        *(f"sum({expr}) as {name}" for name, expr in rollup.measures),
    ]
    add = ", ".join(f"{name} = {rollup.monthly}.{name} + excluded.{name}" for name, _ in rollup.measures)
    return (
        f"insert into {rollup.monthly} ({', '.join(columns)})"
        f" select {', '.join(select)} from {rollup.daily} where day = any($days) group by all"
        f" on conflict ({', '.join(['month', *keys])}) do update set {add}"
    )
