"""Visitors, signed-in and anonymous, over time: the endpoints of the product spec.

Definitions: docs/analysts/communities.md (visitor, signed in, conversion, growth, current visitors).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from analytics import models, queries
from analytics.answers import answer, ratio
from analytics.csv_export import write_csv
from analytics.filters import EventFilter, Filters, allow
from analytics.params import Period, last_days, period, require, site_totals_only
from analytics.routers.common import (
    ERRORS,
    CommunityId,
    DivisionId,
    EndDate,
    Limit,
    StartDate,
    answers,
    community,
    division,
    over_range,
)
from analytics.tokens import TokenRecord

router = APIRouter(tags=["visitors"])
Viewer = Annotated[TokenRecord, Depends(require("viewer"))]
Analyst = Annotated[TokenRecord, Depends(require("analyst"))]
GROWTH_DAYS = {"day": 1, "week": 7, "month": 30}
WINDOW_S = 300


def _visitors(cur, start: dt.date, end: dt.date, slug: str | None = None, division_id: str | None = None) -> dict:
    return _visitor_counts(queries.one(cur, "visitors", start=start, end=end, community=slug, division=division_id))


def _visitor_counts(row: dict) -> dict:
    return {
        "total_visitors": row["visitors"],
        "authenticated_visitors": row["signed_in_visitors"],
        "anonymous_visitors": row["anonymous_visitors"],
        "conversion_rate": row["signed_in_pct"],
        "total_page_views": row["page_views"],
        "avg_page_views_per_visitor": row["page_views_per_visitor"],
    }


@router.get("/visitors/", responses=answers("VisitorsAnswer", models.Visitors))
async def visitors(
    request: Request,
    token: Viewer,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
    community_id: CommunityId = None,
    division_id: DivisionId = None,
) -> Response:
    """Visitors of the range: all, signed in, anonymous, and their page views; optionally only
    of one community's pages and/or only visitors from inside one division, or only the
    visitors with a page view matching the country, page and referrer filters and those page
    views (analyst; the two kinds of filter do not combine)."""
    site_totals_only(token, community_id=community_id, division_id=division_id)
    allow(token, flt, community_id=community_id, division_id=division_id)

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        if flt:
            data = _visitor_counts(queries.one(cur, "filtered_visitors", **flt.params(span, identity.rules)))
        else:
            slug, known = community(cur, community_id), division(cur, division_id)
            data = _visitors(cur, span.start, span.end, slug, known)
        return {**data, "community_id": community_id, "division_id": division_id, **flt.as_dict()}, span.as_dict()

    return await answer(request, compute)


def _last(days: int):
    async def endpoint(request: Request, token: Viewer) -> Response:
        def compute(identity, cur):
            span = last_days(identity, days)
            data = _visitors(cur, span.start, span.end)
            return {**data, "community_id": None, "division_id": None, **EventFilter().as_dict()}, span.as_dict()

        return await answer(request, compute)

    return endpoint


for _path, _days, _summary in (
    ("/visitors/today/", 1, "Visitors of the newest day with data"),
    ("/visitors/weekly/", 7, "Visitors of the last 7 days of data"),
    ("/visitors/monthly/", 30, "Visitors of the last 30 days of data"),
):
    router.add_api_route(
        _path, _last(_days), methods=["GET"], summary=_summary, responses=answers("VisitorsAnswer", models.Visitors)
    )


@router.get("/trends/", responses=answers("TrendsAnswer", models.Trends))
async def trends(
    request: Request,
    token: Viewer,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
    interval: Annotated[Literal["hour", "day", "week", "month"], Query(description="Period length")] = "day",
    community_id: CommunityId = None,
) -> Response:
    """Distinct visitors per hour, day, week (from Monday) or month of the range, every period
    listed (zeros where none); optionally only of one community's pages, or only the visitors
    with a page view matching the country, page and referrer filters in the period (analyst)."""
    site_totals_only(token, community_id=community_id)
    allow(token, flt, community_id=community_id)

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        if flt:
            found = queries.rows(cur, "filtered_trends", grain=interval, **flt.params(span, identity.rules))
        else:
            slug = community(cur, community_id)
            found = queries.rows(cur, "trends", start=span.start, end=span.end, grain=interval, community=slug)
        data = {
            "interval": interval,
            "community_id": community_id,
            **flt.as_dict(),
            "labels": [r["label"] for r in found],
            "total": [r["visitors"] for r in found],
            "authenticated": [r["signed_in_visitors"] for r in found],
            "anonymous": [r["anonymous_visitors"] for r in found],
        }
        return data, span.as_dict()

    return await answer(request, compute)


@router.get("/conversions/", responses=answers("ConversionsAnswer", models.Conversions))
async def conversions(request: Request, token: Viewer, start_date: StartDate = None, end_date: EndDate = None):
    """Sessions that signed in after anonymous hits, per day and over the range."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        days = queries.rows(cur, "conversions", start=span.start, end=span.end)
        converted = sum(d["conversions"] for d in days)
        sessions = sum(d["sessions_with_anonymous_hits"] for d in days)
        data = {
            "total_conversions": converted,
            "sessions_with_anonymous_hits": sessions,
            "conversion_rate": ratio(converted, sessions, 2, 100),
            "avg_time_to_conversion": ratio(sum(d["seconds_to_conversion"] for d in days), converted, 1),
            "conversions_by_date": [
                {
                    "date": d["date"],
                    "conversions": d["conversions"],
                    "sessions_with_anonymous_hits": d["sessions_with_anonymous_hits"],
                    "conversion_rate": d["conversion_rate_pct"],
                }
                for d in days
            ],
        }
        return data, span.as_dict()

    return await answer(request, compute)


@router.get("/growth/", responses=answers("GrowthAnswer", models.Growth))
async def growth(
    request: Request,
    token: Viewer,
    period_: Annotated[
        Literal["day", "week", "month"],
        Query(alias="period", description="The last 1, 7 or 30 days against the same number of days before"),
    ] = "week",
) -> Response:
    """Visitors, signed-in visitors and page views of the last period of data against the one before."""

    def compute(identity, cur):
        days = GROWTH_DAYS[period_]
        current = last_days(identity, days)
        shift = dt.timedelta(days=days)
        previous = Period(current.start - shift, current.end - shift, current.timezone, True)
        stable_pct = request.app.state.analytics.growth_stable_pct
        metrics = queries.rows(cur, "growth", period=period_, stable_pct=stable_pct)
        by_metric = {m["metric"]: m for m in metrics}

        def counts(span, which):
            return {
                "start_date": span.start.isoformat(),
                "end_date": span.end.isoformat(),
                "visitors": by_metric["visitors"][which],
                "authenticated_visitors": by_metric["signed_in_visitors"][which],
                "page_views": by_metric["page_views"][which],
            }

        data = {
            "period": period_,
            "growth_rate": by_metric["visitors"]["growth_pct"],
            "trend": by_metric["visitors"]["trend"],
            "current_period": counts(current, "current"),
            "previous_period": counts(previous, "previous"),
            "metrics": metrics,
        }
        return data, {**current.as_dict(), "start_date": previous.start.isoformat(), "days": 2 * days}

    return await answer(request, compute)


@router.get("/realtime/", responses=answers("RealtimeAnswer", models.Realtime))
async def realtime(request: Request, token: Viewer, community_id: CommunityId = None) -> Response:
    """Distinct visitors in the last 5 minutes of the newest data, and how old that data is."""
    site_totals_only(token, community_id=community_id)

    def compute(identity, cur):
        slug = community(cur, community_id)
        row = queries.one(cur, "realtime", community=slug)
        end = row["window_end"] if row else None
        age = None
        if end is not None:
            age = round((dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(end)).total_seconds(), 1)
        data = {
            "community_id": community_id,
            "count": row["visitors"] if row else 0,
            "window_seconds": WINDOW_S,
            "timestamp": end,
            "age_seconds": age,
        }
        return data, None

    # Not cached: the age changes with the clock.
    return await answer(request, compute, cache=False)


@router.get(
    "/export/",
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, one row per day"}, **ERRORS},
)
async def export(
    request: Request,
    token: Analyst,
    start_date: StartDate = None,
    end_date: EndDate = None,
    community_id: CommunityId = None,
) -> Response:
    """Visitors per day of the range as CSV (date, total_visitors, authenticated_visitors,
    anonymous_visitors, page_views), optionally only of one community's pages. The snapshot's
    identity is in the Footfall-* response headers."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        slug = community(cur, community_id)
        return queries.rows(cur, "visitors_by_day", start=span.start, end=span.end, community=slug), span

    def render(rows, span, identity):
        columns = ["date", "total_visitors", "authenticated_visitors", "anonymous_visitors", "page_views"]
        name = f"footfall-visitors-{span.start}-{span.end}" + (f"-{community_id}" if community_id else "")
        headers = {
            "Content-Disposition": f'attachment; filename="{_safe_filename(name)}.csv"',
            "Footfall-Snapshot-Generation": str(identity.generation),
            "Footfall-Data-As-Of": identity.data_as_of or "",
            "Footfall-Ingest-Run-Id": identity.ingest_run_id or "",
            "Footfall-Definitions-Version": identity.definitions_version,
            "Footfall-Range": f"{span.start}/{span.end} {span.timezone}",
        }
        body = write_csv(columns, [[r[c] for c in columns] for r in rows]).encode("utf-8")
        return body, "text/csv; charset=utf-8", headers

    return await answer(request, compute, render=render)


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@router.get("/communities/", responses=answers("CommunitiesAnswer", list[models.Community]))
async def communities(request: Request, token: Analyst) -> Response:
    """The communities of the dimension files: the ids other endpoints take as community_id."""
    return await answer(request, lambda identity, cur: (queries.rows(cur, "communities"), None))


@router.get("/division-breakdown/", responses=answers("DivisionBreakdownAnswer", list[models.DivisionCount]))
async def division_breakdown(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
) -> Response:
    """Visitors of the range per division (each visitor's division over the range), largest first."""

    def shape(found: list[dict]) -> list[dict]:
        names = {"visitors": "count", "pct": "percentage"}
        return [{names.get(k, k): v for k, v in row.items()} for row in found]

    return await answer(request, over_range("division_breakdown", start_date, end_date, shape, limit=limit))


@router.get("/demographics/", responses=answers("DemographicsAnswer", models.Demographics))
async def demographics(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
) -> Response:
    """Visitors of the range by the type of their division, and the countries of their divisions."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        types = queries.rows(cur, "demographics_types", start=span.start, end=span.end)
        countries = queries.rows(cur, "demographics_countries", start=span.start, end=span.end, limit=limit)
        data = {
            "by_division_type": [
                {"division_type": r["division_type"], "count": r["visitors"], "percentage": r["pct"]} for r in types
            ],
            "top_countries": [
                {"iso_country": r["iso_country"], "name": r["name"], "count": r["visitors"], "percentage": r["pct"]}
                for r in countries
            ],
        }
        return data, span.as_dict()

    return await answer(request, compute)


@router.get("/community-breakdown/", responses=answers("CommunityBreakdownAnswer", list[models.CommunityVisitors]))
async def community_breakdown(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
) -> Response:
    """Visitors of the range per community, largest first, each with its visitors per visitor
    division (the ``limit`` largest divisions of each community)."""
    return await answer(request, over_range("community_breakdown", start_date, end_date, limit=limit))


@router.get("/cross-division-flows/", responses=answers("FlowsAnswer", list[models.Flow]))
async def cross_division_flows(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 50
) -> Response:
    """Visitors from one division reading communities of a division their own is not inside."""
    return await answer(request, over_range("cross_division_flows", start_date, end_date, limit=limit))
