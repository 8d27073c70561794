"""What every endpoint checks first: the bearer token and its role, the parameters, the dates.

Order of the checks, so that a caller without a valid token learns nothing but 401: the
token (401), its role (403), unknown query parameters (422), then each parameter (422,
naming it). Dates are ISO ``YYYY-MM-DD`` days in the snapshot's FOOTFALL_TIMEZONE.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import Request
from fastapi.dependencies.utils import get_flat_dependant

from analytics.answers import ApiError
from analytics.reader import Identity
from analytics.settings import MAX_RANGE_DAYS
from analytics.tokens import TokenRecord, role_allows

DEFAULT_DAYS = 30


def _declared(request: Request) -> set[str]:
    route = request.scope.get("route")
    if route is None:
        return set()
    cached = getattr(route, "_footfall_params", None)
    if cached is None:
        cached = {p.alias for p in get_flat_dependant(route.dependant).query_params}
        route._footfall_params = cached
    return cached


SESSION_COOKIE = "footfall_session"


def presented_token(request: Request) -> str:
    """The token of a request: its ``Authorization: Bearer`` header, else the dashboard's
    session cookie (set by ``POST session/``), else an empty string."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    return request.cookies.get(SESSION_COOKIE, "")


def require(role: str):
    """A dependency: the request's token record, once it is known to have ``role`` or more.

    Raises:
        ApiError: 401 without a valid ``Authorization: Bearer`` token or session cookie, 403 when its role is too
            small, 422 for a query parameter the endpoint does not take.
    """

    async def dependency(request: Request) -> TokenRecord:
        record = request.app.state.analytics.tokens.verify(presented_token(request))
        if record is None:
            raise ApiError(401, "a valid bearer token is required: Authorization: Bearer <token> (make token)")
        request.state.token_id = record.token_id
        if not role_allows(record.role, role):
            raise ApiError(403, f"this endpoint needs a token with role {role}; this token has role {record.role}")
        declared = _declared(request)
        for name in request.query_params:
            if name not in declared:
                takes = ", ".join(sorted(declared)) or "no parameters"
                raise ApiError(422, f"unknown parameter {name!r}; this endpoint takes: {takes}", name)
        return record

    return dependency


def site_totals_only(record: TokenRecord, **filters: str | None) -> None:
    """Refuse a per-community or per-division filter to a ``viewer`` token (site totals only).

    Raises:
        ApiError: 403 naming the first filter given.
    """
    if record.role == "viewer":
        for name, value in filters.items():
            if value is not None:
                raise ApiError(403, f"{name} needs a token with role analyst; viewer tokens see site totals only", name)


@dataclass(frozen=True)
class Period:
    """The days an answer covers (inclusive), in the snapshot's time zone."""

    start: dt.date
    end: dt.date
    timezone: str
    default: bool

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict:
        """The ``range`` member of an answer."""
        return {
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "days": self.days,
            "timezone": self.timezone,
            "default": self.default,
        }


def newest_day(identity: Identity) -> dt.date:
    """The newest day with data (the day of publication for an empty warehouse)."""
    return identity.newest_day or dt.date.fromisoformat(identity.published_at[:10])


def period(identity: Identity, start: dt.date | None, end: dt.date | None) -> Period:
    """The range ``start_date``..``end_date``; a missing end is 29 days after the start, a
    missing start 29 days before the end, and both missing the newest 30 days of data.

    Raises:
        ApiError: 422 naming ``end_date`` when it is before ``start_date`` or the range spans
            more than :data:`analytics.settings.MAX_RANGE_DAYS` days.
    """
    default = start is None and end is None
    span = dt.timedelta(days=DEFAULT_DAYS - 1)
    if default:
        end = newest_day(identity)
    if start is None:
        start = end - span
    if end is None:
        end = start + span
    if end < start:
        raise ApiError(422, f"end_date {end} is before start_date {start}", "end_date")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise ApiError(
            422, f"start_date {start} to end_date {end} spans {days} days; at most {MAX_RANGE_DAYS}", "end_date"
        )
    return Period(start, end, identity.timezone, default)


def last_days(identity: Identity, days: int) -> Period:
    """The ``days`` days ending at the newest day with data (``visitors/today/`` and the like)."""
    end = newest_day(identity)
    return Period(end - dt.timedelta(days=days - 1), end, identity.timezone, True)
