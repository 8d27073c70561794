"""Content views per post (docs/analysts/communities.md, Content views): the post owner's own views are
left out; a viewer is a visitor (a signed-in user once over the range, an anonymous visitor
once per day)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from analytics import models, queries
from analytics.answers import ApiError, answer
from analytics.params import period, require
from analytics.routers.common import EndDate, Limit, StartDate, answers, grouped, over_range
from analytics.tokens import TokenRecord

router = APIRouter(tags=["content"])
Analyst = Annotated[TokenRecord, Depends(require("analyst"))]
_BREAKDOWNS = {"country_code": "by_country", "device_type": "by_device", "referrer_domain": "by_referrer"}


@router.get("/content/", responses=answers("ContentAnswer", list[models.Post]))
async def content(
    request: Request, token: Analyst, start_date: StartDate = None, end_date: EndDate = None, limit: Limit = 10
) -> Response:
    """The posts with the most views in the range, with unique viewers and signed-in views."""
    return await answer(request, over_range("content", start_date, end_date, limit=limit))


@router.get(
    "/content/{post_id}/",
    responses={**answers("PostAnswer", models.PostDetail), 404: {"model": models.ErrorAnswer}},
)
async def post(
    request: Request,
    token: Analyst,
    post_id: Annotated[str, Path(description="post_id of the content dimension")],
    start_date: StartDate = None,
    end_date: EndDate = None,
) -> Response:
    """One post's views and unique viewers in the range, by country, device type and referrer."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        if not queries.post_known(cur, post_id):
            raise ApiError(404, f"no post {post_id!r} in the content dimension or the views")
        totals = queries.one(cur, "content_totals", start=span.start, end=span.end, post_id=post_id)
        breakdowns = queries.rows(cur, "content_post", start=span.start, end=span.end, post_id=post_id)
        return {"post_id": post_id, **totals, **grouped(breakdowns, _BREAKDOWNS)}, span.as_dict()

    return await answer(request, compute)
