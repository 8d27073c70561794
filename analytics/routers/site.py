"""The dashboard's views of the site: traffic, pages, sources, audience, errors, crawlers, peaks.

Definitions: docs/analysts/metrics.md (hit, page view, unique visitor, visit, bounce, referrer, crawler).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from analytics import models, queries
from analytics.answers import answer, ratio
from analytics.params import period, require, site_totals_only
from analytics.routers.common import CommunityId, EndDate, Limit, StartDate, answers, community, grouped, over_range
from analytics.tokens import TokenRecord

router = APIRouter(tags=["site"])
Viewer = Annotated[TokenRecord, Depends(require("viewer"))]
Analyst = Annotated[TokenRecord, Depends(require("analyst"))]


def _ranged(name: str):
    """An analyst endpoint whose data is query ``name`` over the range, ``limit`` rows at most."""

    async def endpoint(
        request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
    ) -> Response:
        return await answer(request, over_range(name, start_date, end_date, limit=limit))

    return endpoint


for _path, _query, _model, _doc in (
    ("/pages/", "pages", models.Page, "The pages with the most page views in the range."),
    ("/entry-pages/", "entry_pages", models.EntryPage, "The pages where the most visits began, with their bounces."),
    ("/countries/", "countries", models.Country, "Page views per country (GeoIP of each page view)."),
    ("/crawlers/", "crawlers", models.Crawler, "Hits and bytes per crawler or other non-human client."),
):
    router.add_api_route(
        _path,
        _ranged(_query),
        methods=["GET"],
        summary=_doc,
        description=_doc,
        responses=answers(f"{_model.__name__}List", list[_model]),
    )


@router.get("/traffic/", responses=answers("TrafficAnswer", models.Traffic))
async def traffic(
    request: Request,
    token: Viewer,
    start_date: StartDate = None,
    end_date: EndDate = None,
    interval: Annotated[Literal["day", "hour"], Query(description="One point per day or per hour")] = "day",
) -> Response:
    """Hits, page views, visitors, visits, bounce rate and visit duration per day or hour, and
    the range's totals."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        name = "traffic_daily" if interval == "day" else "traffic_hourly"
        series = queries.rows(cur, name, start=span.start, end=span.end)
        totals = queries.one(cur, "traffic_totals", start=span.start, end=span.end)
        totals["bounce_rate"] = ratio(totals["bounces"], totals["visits"], 2, 100)
        totals["avg_visit_duration_s"] = ratio(totals["visit_duration_s"], totals["visits"], 1)
        del totals["visit_duration_s"]
        return {"interval": interval, "totals": totals, "series": series}, span.as_dict()

    return await answer(request, compute)


@router.get("/referrers/", responses=answers("ReferrersAnswer", models.Referrers))
async def referrers(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
) -> Response:
    """Page views per referrer (class and domain) and per UTM campaign."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        found = {
            key: queries.rows(cur, key, start=span.start, end=span.end, limit=limit)
            for key in ("referrers", "campaigns")
        }
        return found, span.as_dict()

    return await answer(request, compute)


@router.get("/devices/", responses=answers("DevicesAnswer", models.Devices))
async def devices(request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None):
    """Page views per device type, browser family and operating system family."""
    names = {"device_type": "device_types", "browser_family": "browsers", "os_family": "operating_systems"}
    return await answer(request, over_range("devices", start_date, end_date, lambda rows: grouped(rows, names)))


@router.get("/status-codes/", responses=answers("StatusCodesAnswer", models.StatusCodes))
async def status_codes(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
) -> Response:
    """Hits per HTTP status and status class (every hit), and the paths most answered 404."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        statuses = queries.rows(cur, "statuses", start=span.start, end=span.end)
        classes: dict[str, int] = {}
        for row in statuses:
            key = f"{row['status'] // 100}xx"
            classes[key] = classes.get(key, 0) + row["hits"]
        paths = queries.rows(cur, "not_found_paths", start=span.start, end=span.end, limit=limit)
        return {"statuses": statuses, "classes": classes, "top_404_paths": paths}, span.as_dict()

    return await answer(request, compute)


@router.get("/peak-visitors/", responses=answers("PeakVisitorsAnswer", models.PeakVisitors))
async def peak_visitors(
    request: Request,
    token: Viewer,
    start_date: StartDate = None,
    end_date: EndDate = None,
    community_id: CommunityId = None,
) -> Response:
    """When visitors come: page views and visitors per weekday and hour (the whole site), and
    each day's 5-minute peak of visitors (the site, or one community's pages: analyst)."""
    site_totals_only(token, community_id=community_id)

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        slug = community(cur, community_id)
        # How many times each ISO weekday occurs in the range: the divisor of avg_visitors.
        weekdays = [(span.start + dt.timedelta(days=k)).isoweekday() for k in range(span.days)]
        cells = queries.rows(cur, "hour_of_week", start=span.start, end=span.end)
        for cell in cells:
            cell["avg_visitors"] = ratio(cell["visitors"], weekdays.count(cell["weekday"]), 2)
        peaks = queries.rows(cur, "daily_peaks", start=span.start, end=span.end, community=slug)
        return {"community_id": community_id, "hour_of_week": cells, "daily_peaks": peaks}, span.as_dict()

    return await answer(request, compute)
