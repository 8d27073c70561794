"""Parameters and answers shared by the routers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query

from analytics import models, queries
from analytics.answers import ApiError
from analytics.params import period

StartDate = Annotated[
    dt.date | None, Query(description="First day, YYYY-MM-DD in FOOTFALL_TIMEZONE (default: see end_date)")
]
EndDate = Annotated[
    dt.date | None,
    Query(
        description="Last day, inclusive. Without either date: the newest 30 days of data; with one, "
        "the 30 days starting or ending there. At most 400 days."
    ),
]
CommunityId = Annotated[
    str | None, Query(description="Only this community's pages (community_id of the dimension files; analyst)")
]
DivisionId = Annotated[
    str | None, Query(description="Only visitors from inside this division (division_id; analyst)")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows listed at most")]

ERRORS = {
    401: {"model": models.ErrorAnswer, "description": "No valid bearer token (the body holds no data)"},
    403: {"model": models.ErrorAnswer, "description": "The token's role may not see this"},
    422: {"model": models.ErrorAnswer, "description": "A parameter is wrong; error.parameter names it"},
    503: {"model": models.ErrorAnswer, "description": "No snapshot has been published yet"},
}


def answers(name: str, data_type) -> dict:
    """``responses=`` of an endpoint whose data is ``data_type``."""
    return {200: {"model": models.envelope(name, data_type)}, **ERRORS}


def community(cur, community_id: str | None) -> str | None:
    """The slug of ``community_id`` (None for None).

    Raises:
        ApiError: 422 naming ``community_id`` when the dimension files do not have it.
    """
    if community_id is None:
        return None
    slug = queries.community_slug(cur, community_id)
    if slug is None:
        raise ApiError(422, f"unknown community_id {community_id!r} (GET communities/ lists them)", "community_id")
    return slug


def division(cur, division_id: str | None) -> str | None:
    """``division_id`` once known to exist (None for None).

    Raises:
        ApiError: 422 naming ``division_id`` when the dimension files do not have it.
    """
    if division_id is not None and not queries.division_known(cur, division_id):
        raise ApiError(422, f"unknown division_id {division_id!r}", "division_id")
    return division_id


def over_range(query: str, start_date: dt.date | None, end_date: dt.date | None, shape=None, **params):
    """The ``compute`` of an answer that is query ``query`` over the requested range (its rows,
    passed through ``shape`` when given); ``params`` are bound besides ``start`` and ``end``."""

    def compute(identity, cur):
        span = period(identity, start_date, end_date)
        found = queries.rows(cur, query, start=span.start, end=span.end, **params)
        return (shape(found) if shape else found), span.as_dict()

    return compute


def grouped(rows: list[dict], names: dict[str, str]) -> dict[str, list[dict]]:
    """The rows of a query with grouping sets, split by their ``dimension`` column into the
    lists ``names`` maps each dimension to (every list present, empty when no row)."""
    out: dict[str, list[dict]] = {name: [] for name in names.values()}
    for row in rows:
        out[names[row.pop("dimension")]].append(row)
    return out
