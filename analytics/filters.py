"""The dashboard's event filters: ``country``, ``page`` and ``referrer`` (docs/staff/api.md, Filters).

The daily aggregates do not cross country x page x referrer, and unique visitors cannot be
summed across rows of one (docs/analysts/metrics.md), so a filtered answer is computed from the
snapshot's ``events`` view (the Parquet files it registered) through the same table macros the
aggregates are built with (``page_views_local``, ``visits_local``, ``visitor_hits``): the same
page-view rule, crawler rule, days and visits as the unfiltered panels, by construction. An
answer without a filter still reads the aggregates.

What a filter keeps:

- hits and page views: those that match every filter (``analytics/sql/event_filter.sql``);
- visitors: the visitors with at least one matching counted page view;
- visits (and bounces, durations, entry pages): the visits holding at least one matching
  page view (``analytics/sql/matching_visits.sql``), counted whole.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from analytics.answers import ApiError
from analytics.params import Period, site_totals_only
from analytics.tokens import TokenRecord
from transforms.models.catalogue import ModelParams

# Longest page and referrer domain accepted (characters): past this no logged value is useful
# in a URL, and every proxy on the way would cut it anyway.
MAX_PAGE = 2048
MAX_REFERRER = 255
_COUNTRY_RE = re.compile(r"[A-Z]{2}|Unknown")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

Country = Annotated[
    str | None,
    Query(
        description="Only events from this country: an ISO 3166-1 alpha-2 code or Unknown, as countries/ "
        "answers it (analyst)"
    ),
]
Page = Annotated[
    str | None, Query(description="Only events of this path, as pages/ and entry-pages/ answer it (analyst)")
]
Referrer = Annotated[
    str | None,
    Query(description="Only events referred by this domain, as referrers/ answers referrer_domain (analyst)"),
]


@dataclass(frozen=True)
class EventFilter:
    """The country, page and referrer filters of one request (None: not filtered on it)."""

    country: str | None = None
    page: str | None = None
    referrer: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.country, self.page, self.referrer))

    def as_dict(self) -> dict[str, str | None]:
        """The ``filters`` member of a filtered answer."""
        return {"country": self.country, "page": self.page, "referrer": self.referrer}

    def params(self, span: Period, rules: ModelParams) -> dict:
        """The parameters of the ``filtered_*`` queries over ``span``: ``$days`` (every day),
        ``$tz`` (the snapshot's time zone), the counting rules the snapshot's aggregates were
        built with (``rules``: :attr:`analytics.reader.Identity.rules`), the filters, ``$start``/``$end``."""
        days = [span.start + dt.timedelta(days=k) for k in range(span.days)]
        return {
            "days": days,
            "tz": span.timezone,
            "include_crawlers": rules.include_crawlers,
            "session_gap_s": rules.session_gap_s,
            "start": span.start,
            "end": span.end,
            **self.as_dict(),
        }


def _checked(name: str, value: str | None, longest: int, forbidden: str = "") -> str | None:
    # The value is never repeated in the message: it may be anything a visitor typed.
    if value is None:
        return None
    if not value or len(value) > longest or _CONTROL_RE.search(value) or any(c in value for c in forbidden):
        extra = f", none of {' '.join(forbidden)}" if forbidden else ""
        raise ApiError(422, f"{name} must be 1 to {longest} characters, no control characters{extra}", name)
    return value


async def _requested(country: Country = None, page: Page = None, referrer: Referrer = None) -> EventFilter:
    """The filters of a request, checked (a dependency: see :data:`Filters`).

    Raises:
        ApiError: 422 naming ``country`` when it is not two capital letters or ``Unknown``,
            ``page`` or ``referrer`` when empty, too long or with control characters (a
            referrer domain has no ``/``, ``?`` or ``#`` either).
    """
    if country is not None and not _COUNTRY_RE.fullmatch(country):
        raise ApiError(422, "country must be an ISO 3166-1 alpha-2 code (two capital letters) or Unknown", "country")
    return EventFilter(
        country=country,
        page=_checked("page", page, MAX_PAGE),
        referrer=_checked("referrer", referrer, MAX_REFERRER, "/?#"),
    )


# An endpoint parameter: the ``country``, ``page`` and ``referrer`` query parameters, checked.
Filters = Annotated[EventFilter, Depends(_requested)]


def allow(token: TokenRecord, flt: EventFilter, **community_filters: str | None) -> None:
    """Refuse the filters to a ``viewer`` token (site totals only, as community filters), and
    together with a community or division filter: the community and division answers come
    from per-visitor tables (docs/analysts/communities.md), the event filters from the events, and no
    query combines the two yet.

    Raises:
        ApiError: 403 naming the first filter given with a viewer token; 422 naming the
            community or division parameter given besides them.
    """
    site_totals_only(token, **flt.as_dict())
    if flt:
        for name, value in community_filters.items():
            if value is not None:
                raise ApiError(422, f"{name} cannot be combined with country, page or referrer", name)
