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
from analytics.filters import EventFilter, Filters, allow
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


def _filterable(name: str):
    """Like :func:`_ranged`, also taking the event filters (then query ``filtered_<name>``)."""

    async def endpoint(
        request: Request,
        token: Analyst,
        flt: Filters,
        start_date: StartDate = None,
        end_date: EndDate = None,
        limit: Limit = 10,
    ) -> Response:
        allow(token, flt)
        if not flt:
            return await answer(request, over_range(name, start_date, end_date, limit=limit))

        def compute(identity, cur):
            span = period(identity, start_date, end_date)
            found = queries.rows(cur, f"filtered_{name}", limit=limit, **flt.params(span, identity.rules))
            return found, span.as_dict()

        return await answer(request, compute)

    return endpoint


_FILTERED = " Under country, page or referrer filters, only the matching events count (docs/staff/api.md, Filters)."
for _path, _endpoint, _model, _doc in (
    ("/pages/", _filterable("pages"), models.Page, "The pages with the most page views in the range." + _FILTERED),
    (
        "/entry-pages/",
        _filterable("entry_pages"),
        models.EntryPage,
        "The pages where the most visits began, with their bounces. Under filters: the visits holding a "
        "matching page view.",
    ),
    (
        "/countries/",
        _filterable("countries"),
        models.Country,
        "Page views per country (GeoIP of each page view)." + _FILTERED,
    ),
    ("/crawlers/", _ranged("crawlers"), models.Crawler, "Hits and bytes per crawler or other non-human client."),
):
    router.add_api_route(
        _path,
        _endpoint,
        methods=["GET"],
        summary=_doc.split(". ")[0],
        description=_doc,
        responses=answers(f"{_model.__name__}List", list[_model]),
    )


@router.get("/traffic/", responses=answers("TrafficAnswer", models.Traffic))
async def traffic(
    request: Request,
    token: Viewer,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
    interval: Annotated[Literal["day", "hour"], Query(description="One point per day or per hour")] = "day",
) -> Response:
    """Hits, page views, visitors, visits, bounce rate and visit duration per day or hour, and
    the range's totals; under country, page or referrer filters (analyst) only the matching
    hits and page views, and the visits holding a matching page view (docs/staff/api.md, Filters)."""
    allow(token, flt)

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        if flt:
            *series, totals = queries.rows(cur, "filtered_traffic", grain=interval, **flt.params(span, identity.rules))
            del totals["label"]
            totals["visitor_days"] = totals.pop("visitors")
            for point in series:
                point["bounce_rate"] = ratio(point.pop("bounces"), point["visits"], 2, 100)
                point["avg_visit_duration_s"] = ratio(point.pop("visit_duration_s"), point["visits"], 1)
        else:
            name = "traffic_daily" if interval == "day" else "traffic_hourly"
            series = queries.rows(cur, name, start=span.start, end=span.end)
            totals = queries.one(cur, "traffic_totals", start=span.start, end=span.end)
        totals["bounce_rate"] = ratio(totals["bounces"], totals["visits"], 2, 100)
        totals["avg_visit_duration_s"] = ratio(totals["visit_duration_s"], totals["visits"], 1)
        del totals["visit_duration_s"]
        return {"interval": interval, "totals": totals, "series": series}, span.as_dict()

    return await answer(request, compute)


def _queried(names: dict[str, str], start_date, end_date, flt: EventFilter, **params):
    """The ``compute`` of an answer that is the queries ``names`` (key -> query) over the range:
    each query ``q``, or ``filtered_q`` under filters."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        bound = flt.params(span, identity.rules) if flt else {"start": span.start, "end": span.end}
        prefix = "filtered_" if flt else ""
        return {key: queries.rows(cur, prefix + q, **bound, **params) for key, q in names.items()}, span.as_dict()

    return compute


@router.get("/referrers/", responses=answers("ReferrersAnswer", models.Referrers))
async def referrers(
    request: Request,
    token: Analyst,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
    limit: Limit = 10,
) -> Response:
    """Page views per referrer (class and domain) and per UTM campaign; under filters, of the
    matching page views (under a referrer filter, that referrer's own row)."""
    allow(token, flt)
    names = {"referrers": "referrers", "campaigns": "campaigns"}
    return await answer(request, _queried(names, start_date, end_date, flt, limit=limit))


@router.get("/devices/", responses=answers("DevicesAnswer", models.Devices))
async def devices(
    request: Request,
    token: Analyst,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
):
    """Page views per device type, browser family and operating system family; under filters,
    of the matching page views."""
    allow(token, flt)
    names = {"device_type": "device_types", "browser_family": "browsers", "os_family": "operating_systems"}
    compute = _queried({"rows": "devices"}, start_date, end_date, flt)

    def shaped(identity, cur):
        found, span = compute(identity, cur)
        return grouped(found["rows"], names), span

    return await answer(request, shaped)


@router.get("/status-codes/", responses=answers("StatusCodesAnswer", models.StatusCodes))
async def status_codes(
    request: Request,
    token: Analyst,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
    limit: Limit = 10,
) -> Response:
    """Hits per HTTP status and status class (every hit), and the paths most answered 404;
    under filters, of the matching hits."""
    allow(token, flt)
    names = {"statuses": "statuses", "top_404_paths": "not_found_paths"}
    compute = _queried(names, start_date, end_date, flt, limit=limit)

    def shaped(identity, cur):
        found, span = compute(identity, cur)
        classes: dict[str, int] = {}
        for row in found["statuses"]:
            key = f"{row['status'] // 100}xx"
            classes[key] = classes.get(key, 0) + row["hits"]
        return {"statuses": found["statuses"], "classes": classes, "top_404_paths": found["top_404_paths"]}, span

    return await answer(request, shaped)


@router.get("/peak-visitors/", responses=answers("PeakVisitorsAnswer", models.PeakVisitors))
async def peak_visitors(
    request: Request,
    token: Viewer,
    flt: Filters,
    start_date: StartDate = None,
    end_date: EndDate = None,
    community_id: CommunityId = None,
) -> Response:
    """When visitors come: page views and visitors per weekday and hour (the whole site, or the
    matching page views under country, page or referrer filters: analyst), and each day's
    5-minute peak of visitors (the site, or one community's pages: analyst; null under filters)."""
    site_totals_only(token, community_id=community_id)
    allow(token, flt, community_id=community_id)

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        slug = community(cur, community_id)
        # How many times each ISO weekday occurs in the range: the divisor of avg_visitors.
        weekdays = [(span.start + dt.timedelta(days=k)).isoweekday() for k in range(span.days)]
        if flt:
            cells = queries.rows(cur, "filtered_hour_of_week", **flt.params(span, identity.rules))
            peaks = None
        else:
            cells = queries.rows(cur, "hour_of_week", start=span.start, end=span.end)
            peaks = queries.rows(cur, "daily_peaks", start=span.start, end=span.end, community=slug)
        for cell in cells:
            cell["avg_visitors"] = ratio(cell["visitors"], weekdays.count(cell["weekday"]), 2)
        data = {"community_id": community_id, **flt.as_dict(), "hour_of_week": cells, "daily_peaks": peaks}
        return data, span.as_dict()

    return await answer(request, compute)
