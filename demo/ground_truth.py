"""The metrics of docs/analysts/communities.md, computed in plain Python from generated records.

This is the oracle of the community, division, signed-in and content metrics. It is written
from the spec only, never from footfall's code: it does not import ``parsers``,
``transforms`` or ``warehouse``, it works on raw values (user id, session id, client
address and user agent as the generator wrote them, not their hashes), and it learns an
address's place and a user agent's crawler status and device type from the generator, which
chose them, instead of from GeoIP or a classifier. A disagreement with footfall's views is
then a bug in one of the two, not a copied one.

Conventions of every method:

* Days are UTC dates (the generator logs ``+0000`` and runs footfall with
  ``FOOTFALL_TIMEZONE=UTC``), ``datetime.date``.
* Timestamps (peak window starts) and hour periods are naive ``datetime.datetime`` in UTC,
  the wall clock of ``FOOTFALL_TIMEZONE=UTC``.
* Percentages and averages are rounded half away from zero on the exact rational value
  (``round(100 * a / b, 2)``); a ratio with a zero denominator is ``None``.
* Each method returns a list of dicts whose keys are the view's column names, in the view's
  order when the spec defines one, else sorted by the key columns.

Readings of the spec where it is silent or ambiguous are marked "Reading:" below, so that the
spec (docs/analysts/communities.md) and the SQL can be aligned on them.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

ALL = "(all)"
UNKNOWN = "Unknown"
WINDOW_S = 300  # the 5-minute window of peak and current visitors
GROWTH_DAYS = {"day": 1, "week": 7, "month": 30}

# docs/analysts/metrics.md, rule 4 of the page-view rule.
STATIC_EXTENSIONS = frozenset(
    "css js mjs map png jpg jpeg gif svg ico webp avif bmp tif tiff woff woff2 ttf otf eot mp3 mp4 webm ogg wav avi "
    "mpg mpeg flv zip gz tgz tar rar 7z iso exe dmg pdf txt csv xml json".split()
)


@dataclass(frozen=True, slots=True)
class Hit:
    """One generated request, as the generator logged it.

    ``ts`` is timezone-aware UTC with whole seconds; ``target`` is the request target
    (path plus optional ``?query``); ``referrer``, ``user_id`` and ``session_id`` are ``None``
    where nginx logs ``-``.
    """

    ts: dt.datetime
    ip: str
    method: str
    target: str
    status: int
    bytes_sent: int
    referrer: str | None
    user_agent: str
    user_id: str | None
    session_id: str | None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class Location:
    """What GeoIP says about an address: ISO country, ISO 3166-2 subdivision code without the
    country prefix (``ON``), English city name; ``None`` where unknown (private addresses)."""

    country: str | None
    subdivision: str | None
    city: str | None


@dataclass(frozen=True, slots=True)
class Division:
    division_id: str
    name: str
    type: str
    parent_id: str | None
    iso_country: str
    iso_subdivision: str | None
    city_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Community:
    community_slug: str
    community_id: str
    division_id: str


@dataclass(frozen=True, slots=True)
class Post:
    post_id: str
    kind: str
    owner_user_id: str | None


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    home_division_id: str | None


@dataclass(frozen=True, slots=True)
class Route:
    page_type: str
    pattern: str


@dataclass(frozen=True)
class Dimensions:
    """The dimension tables and routes the generator wrote (docs/analysts/communities.md, Inputs)."""

    divisions: tuple[Division, ...]
    communities: tuple[Community, ...]
    content: tuple[Post, ...]
    users: tuple[User, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True, slots=True)
class _PageView:
    ts: dt.datetime
    day: dt.date
    visitor: tuple
    signed_in: bool
    ip: str
    page_type: str | None
    community_slug: str | None
    post_id: str | None
    referrer_domain: str | None
    device_type: str


def rounded(numerator: int, denominator: int, digits: int, scale: int = 1) -> float | None:
    """``round(scale * numerator / denominator, digits)`` half away from zero on the exact value;
    ``None`` when the denominator is 0."""
    if denominator == 0:
        return None
    exact = Fraction(scale * numerator, denominator)
    as_decimal = Decimal(exact.numerator) / Decimal(exact.denominator)
    return float(as_decimal.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def is_page_view(hit: Hit) -> bool:
    """docs/analysts/metrics.md: GET (case-sensitive), status 2xx or 304, not static, not a health check."""
    if hit.method != "GET" or not (200 <= hit.status <= 299 or hit.status == 304):
        return False
    path = hit.path
    if path.startswith("/static/") or path in ("/health", "/healthz") or path.startswith("/health/"):
        return False
    last = path.rsplit("/", 1)[-1].lower()
    return not ("." in last and last.rsplit(".", 1)[1] in STATIC_EXTENSIONS)


def match_route(routes: tuple[Route, ...], path: str) -> tuple[str, dict[str, str]] | None:
    """The first route matching ``path`` (no query string) and its captures, per the rules of
    docs/analysts/communities.md, Routes: ``{name}`` is one non-empty segment, a trailing ``/...`` is
    the rest of the path (possibly nothing), one trailing ``/`` of the path is ignored."""
    if path.endswith("/") and path != "/":
        path = path[:-1]
    segments = path.split("/")[1:]
    for route in routes:
        parts = route.pattern.split("/")[1:]
        rest = parts[-1] == "..."
        if rest:
            parts = parts[:-1]
        if len(segments) < len(parts) or (not rest and len(segments) != len(parts)):
            continue
        captures = {}
        for part, segment in zip(parts, segments, strict=False):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    break
                captures[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return route.page_type, captures
    return None


def referrer_domain(referrer: str | None) -> str | None:
    """docs/analysts/metrics.md: the referrer's host, lower case, without ``www.`` and port; ``None``
    for no referrer and for anything but an absolute http(s) URL."""
    if not referrer:
        return None
    parts = urlsplit(referrer.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.rstrip(".")
    return host[4:] if host.startswith("www.") else host or None


class GroundTruth:
    """Expected values of every view of docs/analysts/communities.md for one generated traffic set.

    Args:
        hits: every generated request (any order).
        dimensions: the dimension tables and routes written with them.
        locations: client address -> its GeoIP :class:`Location` (every address of ``hits``).
        crawler_agents: the user agents that are crawlers (footfall's ``is_crawler``).
        device_types: user agent -> ``desktop``/``mobile``/``tablet`` for every human one.

    Raises:
        ValueError: the records make a metric ambiguous under the spec (a session key whose
            first user is not unique at its first second, or a visitor whose earliest page
            view is two page views at one second from different divisions). The generator
            avoids both; the error says which record.
    """

    def __init__(
        self,
        hits: list[Hit],
        dimensions: Dimensions,
        locations: dict[str, Location],
        crawler_agents: frozenset[str],
        device_types: dict[str, str],
    ) -> None:
        self.dimensions = dimensions
        self.locations = locations
        self.divisions = {d.division_id: d for d in dimensions.divisions}
        self.communities = {c.community_slug: c for c in dimensions.communities}
        self.owners = {p.post_id: p.owner_user_id for p in dimensions.content}
        self.homes = {u.user_id: u.home_division_id for u in dimensions.users if u.home_division_id}
        ordered = sorted(hits, key=lambda h: h.ts)
        # Conversions look at every human hit; everything else at human page views.
        self.human_hits = [h for h in ordered if h.user_agent not in crawler_agents]
        self.first_user = self._first_users(self.human_hits)
        self.page_views: list[_PageView] = []
        for hit in self.human_hits:
            if not is_page_view(hit):
                continue
            matched = match_route(dimensions.routes, hit.path)
            page_type, captures = matched if matched else (None, {})
            visitor = self.visitor(hit)
            self.page_views.append(
                _PageView(
                    ts=hit.ts,
                    day=hit.ts.date(),
                    visitor=visitor,
                    signed_in=visitor[0] == "user",
                    ip=hit.ip,
                    page_type=page_type,
                    community_slug=captures.get("community_slug"),
                    post_id=captures.get("post_id"),
                    referrer_domain=referrer_domain(hit.referrer),
                    device_type=device_types[hit.user_agent],
                )
            )
        self._division_cache: dict[tuple[dt.date, dt.date], dict[tuple, str | None]] = {}

    # -- rules -------------------------------------------------------------------------------

    @staticmethod
    def session_key(hit: Hit) -> tuple:
        """Rules, Session key: the session id when logged, else the daily address + user agent
        (both per UTC day, as ``session_hash`` and ``visitor_id`` use the daily salt)."""
        day = hit.ts.date()
        return ("session", day, hit.session_id) if hit.session_id else ("address", day, hit.ip, hit.user_agent)

    @classmethod
    def _first_users(cls, human_hits: list[Hit]) -> dict[tuple, str]:
        """Session key -> the first user id it carries that day, by time."""
        first: dict[tuple, tuple[dt.datetime, str]] = {}
        for hit in human_hits:
            if not hit.user_id:
                continue
            key = cls.session_key(hit)
            seen = first.get(key)
            if seen is None:
                first[key] = (hit.ts, hit.user_id)
            elif seen[0] == hit.ts and seen[1] != hit.user_id:
                raise ValueError(
                    f"session key {key} has users {seen[1]} and {hit.user_id} at its first second {hit.ts}"
                )
        return {key: user for key, (_, user) in first.items()}

    def visitor(self, hit: Hit) -> tuple:
        """Rules, Visitor: ``("user", user_id)`` for every hit of a session key that signs in
        that day, else ``("anonymous", session key)`` (a new visitor every day)."""
        key = self.session_key(hit)
        user = self.first_user.get(key)
        return ("user", user) if user else ("anonymous", key)

    def resolve(self, location: Location) -> str | None:
        """Rules, Visitor division, step 2: GeoIP onto the division tree, most specific first,
        the smallest ``division_id`` at one level; ``None`` when nothing matches."""
        levels = (
            [
                d
                for d in self.divisions.values()
                if location.city
                and location.city in d.city_names
                and d.iso_country == location.country
                and (d.iso_subdivision is None or d.iso_subdivision == location.subdivision)
            ],
            [
                d
                for d in self.divisions.values()
                if not d.city_names
                and d.iso_subdivision is not None
                and d.iso_subdivision == location.subdivision
                and d.iso_country == location.country
            ],
            [
                d
                for d in self.divisions.values()
                if not d.city_names and d.iso_subdivision is None and d.iso_country == location.country
            ],
        )
        for matches in levels:
            if matches:
                return min(d.division_id for d in matches)
        return None

    def inside(self, division_id: str | None, ancestor_id: str | None) -> bool:
        """True when ``division_id`` is ``ancestor_id`` or lies inside it (parent chain)."""
        while division_id is not None:
            if division_id == ancestor_id:
                return True
            division_id = self.divisions[division_id].parent_id
        return False

    def visitor_divisions(self, start: dt.date, end: dt.date) -> dict[tuple, str | None]:
        """Rules, Visitor division: visitor -> division id (``None``: Unknown) over [start, end].

        Reading: "the earliest page view in the range" is the visitor's earliest human page
        view anywhere on the site in the range, so a visitor has one division per range
        whatever community a view looks at.
        """
        cached = self._division_cache.get((start, end))
        if cached is not None:
            return cached
        earliest: dict[tuple, list[_PageView]] = {}
        for pv in self.page_views:
            if start <= pv.day <= end:
                first = earliest.setdefault(pv.visitor, [pv])
                if first[0] is not pv and first[0].ts == pv.ts:
                    first.append(pv)
        out = {}
        for visitor, firsts in earliest.items():
            if visitor[0] == "user" and visitor[1] in self.homes:
                out[visitor] = self.homes[visitor[1]]
                continue
            found = {self.resolve(self.locations[pv.ip]) for pv in firsts}
            if len(found) > 1:
                raise ValueError(f"visitor {visitor}: earliest page views at {firsts[0].ts} resolve to {found}")
            out[visitor] = found.pop()
        self._division_cache[(start, end)] = out
        return out

    def newest_day(self) -> dt.date:
        """The newest day with a human page view (a batch pipeline's "today")."""
        return max(pv.day for pv in self.page_views)

    def days(self) -> list[dt.date]:
        return sorted({pv.day for pv in self.page_views})

    def _in_range(self, start: dt.date, end: dt.date) -> list[_PageView]:
        return [pv for pv in self.page_views if start <= pv.day <= end]

    @staticmethod
    def _counts(visitors: set[tuple]) -> tuple[int, int, int]:
        signed_in = sum(1 for v in visitors if v[0] == "user")
        return len(visitors), signed_in, len(visitors) - signed_in

    # -- views -------------------------------------------------------------------------------

    def community_daily(self) -> list[dict[str, Any]]:
        """One row per community and day with a page view of it; visitor divisions per day."""
        grouped: dict[tuple, list[_PageView]] = collections.defaultdict(list)
        for pv in self.page_views:
            if pv.community_slug is not None:
                grouped[(pv.day, pv.community_slug)].append(pv)
        rows = []
        for (day, slug), pvs in sorted(grouped.items()):
            community = self.communities[slug]
            divisions = self.visitor_divisions(day, day)
            visitors = {pv.visitor for pv in pvs}
            total, signed_in, anonymous = self._counts(visitors)
            same = cross = unknown = 0
            for visitor in visitors:
                division = divisions[visitor]
                if division is None:
                    unknown += 1
                elif self.inside(division, community.division_id):
                    same += 1
                else:
                    cross += 1
            rows.append(
                {
                    "day": day,
                    "community_slug": slug,
                    "community_id": community.community_id,
                    "division_id": community.division_id,
                    "visitors": total,
                    "signed_in_visitors": signed_in,
                    "anonymous_visitors": anonymous,
                    "page_views": len(pvs),
                    "same_division_visitors": same,
                    "cross_division_visitors": cross,
                    "unknown_division_visitors": unknown,
                    "cross_division_pct": rounded(cross, total, 2, 100),
                }
            )
        return rows

    def community_division_breakdown(self, start: dt.date, end: dt.date, top_n: int = 10) -> list[dict[str, Any]]:
        """Per community: visitors per visitor division over the range, top ``top_n``.

        Reading: ``rank`` is 1, 2, 3... with ties on visitors broken by division id
        (ascending, Unknown's null id last), so ranks are unique.
        """
        divisions = self.visitor_divisions(start, end)
        visitors_of: dict[str, set[tuple]] = collections.defaultdict(set)
        for pv in self._in_range(start, end):
            if pv.community_slug is not None:
                visitors_of[pv.community_slug].add(pv.visitor)
        rows = []
        for slug in sorted(visitors_of):
            per_division = collections.Counter(divisions[v] for v in visitors_of[slug])
            ranked = sorted(per_division.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
            for rank, (division, count) in enumerate(ranked[:top_n], start=1):
                rows.append(
                    {
                        "community_slug": slug,
                        "division_id": division,
                        "division_name": self.divisions[division].name if division else UNKNOWN,
                        "visitors": count,
                        "pct": rounded(count, len(visitors_of[slug]), 2, 100),
                        "rank": rank,
                    }
                )
        return rows

    def cross_division_flows(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """(visitor division, community division) pairs where the first is known and not inside
        the second: distinct visitors and their page views of that division's communities."""
        divisions = self.visitor_divisions(start, end)
        visitors: dict[tuple[str, str], set[tuple]] = collections.defaultdict(set)
        page_views: collections.Counter = collections.Counter()
        for pv in self._in_range(start, end):
            if pv.community_slug is None:
                continue
            source, target = divisions[pv.visitor], self.communities[pv.community_slug].division_id
            if source is None or self.inside(source, target):
                continue
            visitors[(source, target)].add(pv.visitor)
            page_views[(source, target)] += 1
        return [
            {"from_division_id": s, "to_division_id": t, "visitors": len(v), "page_views": page_views[(s, t)]}
            for (s, t), v in sorted(visitors.items())
        ]

    def visitor_stats(
        self, start: dt.date, end: dt.date, community_slug: str | None = None, division_id: str | None = None
    ) -> list[dict[str, Any]]:
        """One row over the range, optionally only page views of one community and/or only
        visitors whose division (over the range) is ``division_id`` or inside it."""
        divisions = self.visitor_divisions(start, end)
        pvs = [
            pv
            for pv in self._in_range(start, end)
            if (community_slug is None or pv.community_slug == community_slug)
            and (division_id is None or self.inside(divisions[pv.visitor], division_id))
        ]
        visitors, signed_in, anonymous = self._counts({pv.visitor for pv in pvs})
        return [
            {
                "visitors": visitors,
                "signed_in_visitors": signed_in,
                "anonymous_visitors": anonymous,
                "signed_in_pct": rounded(signed_in, visitors, 2, 100),
                "page_views": len(pvs),
                "page_views_per_visitor": rounded(len(pvs), visitors, 2),
            }
        ]

    def visitor_stats_last(self, days: int) -> list[dict[str, Any]]:
        """``visitor_stats_today`` (1), ``visitor_stats_7d`` (7), ``visitor_stats_30d`` (30): the
        last ``days`` days ending at the newest day with page views."""
        newest = self.newest_day()
        return self.visitor_stats(newest - dt.timedelta(days=days - 1), newest)

    @staticmethod
    def period_start(grain: str, ts: dt.datetime) -> dt.date | dt.datetime:
        """Start of the period holding ``ts``: naive UTC hour, or a date (ISO week: Monday)."""
        if grain == "hour":
            return ts.replace(minute=0, second=0, microsecond=0, tzinfo=None)
        day = ts.date()
        if grain == "day":
            return day
        if grain == "week":
            return day - dt.timedelta(days=day.weekday())
        if grain == "month":
            return day.replace(day=1)
        raise ValueError(f"grain must be hour, day, week or month, not {grain!r}")

    def trends(self, grain: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """One row per period with page views in [start, end].

        Reading: a week or month that overlaps the range only partly counts only its days
        inside the range, and is labelled with its true start (which may precede ``start``).
        """
        grouped: dict[Any, set[tuple]] = collections.defaultdict(set)
        for pv in self._in_range(start, end):
            grouped[self.period_start(grain, pv.ts)].add(pv.visitor)
        rows = []
        for period, visitors in sorted(grouped.items()):
            total, signed_in, anonymous = self._counts(visitors)
            rows.append(
                {
                    "period_start": period,
                    "visitors": total,
                    "signed_in_visitors": signed_in,
                    "anonymous_visitors": anonymous,
                }
            )
        return rows

    def conversions_daily(self) -> list[dict[str, Any]]:
        """Per day with a session key that has an anonymous human hit (any method, status, path).

        Reading: a conversion needs its first signed-in hit strictly after the first anonymous
        hit (the generator never puts both in the same second); days without any anonymous
        hit have no row; ``avg_seconds_to_conversion`` is ``None`` on a day without conversions.
        """
        first_anonymous: dict[tuple, dt.datetime] = {}
        first_signed_in: dict[tuple, dt.datetime] = {}
        for hit in self.human_hits:
            target = first_signed_in if hit.user_id else first_anonymous
            target.setdefault(self.session_key(hit), hit.ts)
        per_day: dict[dt.date, list] = collections.defaultdict(lambda: [0, []])
        for key, anonymous_ts in first_anonymous.items():
            per_day[key[1]][0] += 1  # key[1]: the session key's day
            signed_in_ts = first_signed_in.get(key)
            if signed_in_ts is not None and signed_in_ts > anonymous_ts:
                per_day[key[1]][1].append(int((signed_in_ts - anonymous_ts).total_seconds()))
        rows = []
        for day, (sessions, delays) in sorted(per_day.items()):
            rows.append(
                {
                    "day": day,
                    "sessions_with_anonymous_hits": sessions,
                    "conversions": len(delays),
                    "conversion_rate_pct": rounded(len(delays), sessions, 2, 100),
                    "avg_seconds_to_conversion": rounded(sum(delays), len(delays), 1),
                    "seconds_to_conversion": float(sum(delays)) if delays else None,
                }
            )
        return rows

    def demographics(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Visitors of the range by the type of their division.

        Reading (the spec names no columns): ``division_type`` (``Unknown`` for none),
        ``visitors``, ``pct`` = round(100 * visitors / all visitors, 2); sorted by type.
        """
        divisions = self.visitor_divisions(start, end)
        counts = collections.Counter(self.divisions[d].type if d else UNKNOWN for d in divisions.values())
        total = sum(counts.values())
        return [
            {"division_type": kind, "visitors": n, "pct": rounded(n, total, 2, 100)}
            for kind, n in sorted(counts.items())
        ]

    def top_countries(self, start: dt.date, end: dt.date, top_n: int = 10) -> list[dict[str, Any]]:
        """Visitors of the range per ``iso_country`` of their division, top ``top_n``.

        Reading (the spec names no columns): ``iso_country`` (``Unknown`` for visitors without
        a division), ``visitors``, ``pct`` (of all visitors of the range, 2 decimals),
        ``rank`` 1, 2, 3... by visitors, ties by code with ``Unknown`` last.
        """
        divisions = self.visitor_divisions(start, end)
        counts = collections.Counter(self.divisions[d].iso_country if d else None for d in divisions.values())
        total = sum(counts.values())
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
        return [
            {"iso_country": code or UNKNOWN, "visitors": n, "pct": rounded(n, total, 2, 100), "rank": rank}
            for rank, (code, n) in enumerate(ranked[:top_n], start=1)
        ]

    def growth(self, period: str, stable_pct: float = 5) -> list[dict[str, Any]]:
        """The last 1/7/30 days ending at the newest day against the same number of days before.

        Reading: ``growth_pct`` = round(100 * (current - previous) / previous, 2); the trend
        compares the exact (unrounded) growth with ``±stable_pct``, strictly ("beyond"); when
        previous is 0 the trend is ``increasing`` if current > 0, else ``stable``. Rows in
        the order visitors, signed_in_visitors, page_views.
        """
        days = GROWTH_DAYS[period]
        newest = self.newest_day()
        current = self.visitor_stats(newest - dt.timedelta(days=days - 1), newest)[0]
        previous = self.visitor_stats(newest - dt.timedelta(days=2 * days - 1), newest - dt.timedelta(days=days))[0]
        rows = []
        for metric in ("visitors", "signed_in_visitors", "page_views"):
            now, before = current[metric], previous[metric]
            if before == 0:
                growth, trend = None, "increasing" if now > 0 else "stable"
            else:
                exact = Fraction(100 * (now - before), before)
                growth = rounded(now - before, before, 2, 100)
                trend = (
                    "increasing"
                    if exact > Fraction(stable_pct)
                    else "decreasing"
                    if exact < -Fraction(stable_pct)
                    else "stable"
                )
            rows.append({"metric": metric, "current": now, "previous": before, "growth_pct": growth, "trend": trend})
        return rows

    @staticmethod
    def _peak(pvs: list[_PageView]) -> tuple[int, dt.datetime]:
        """Brute force: for each page-view time s, distinct visitors with a page view in
        [s, s + 300 s); the largest count and the first s reaching it (``pvs`` sorted by time).

        Reading: window starts are page-view times (the maximum over all real t is always
        reached at one), and only page views of that day count.
        """
        best, best_start = 0, pvs[0].ts
        for i, first in enumerate(pvs):
            end = first.ts + dt.timedelta(seconds=WINDOW_S)
            visitors = set()
            for pv in pvs[i:]:
                if pv.ts >= end:
                    break
                visitors.add(pv.visitor)
            if len(visitors) > best:
                best, best_start = len(visitors), first.ts
        return best, best_start

    def peak_visitors_daily(self) -> list[dict[str, Any]]:
        """Per day, per community and ``(all)``: the 5-minute peak of distinct visitors.

        Reading (the spec names no columns): ``day, community_slug, peak_visitors,
        window_start`` (naive UTC); sorted by day, then slug with ``(all)`` first.
        """
        grouped: dict[tuple[dt.date, str], list[_PageView]] = collections.defaultdict(list)
        for pv in self.page_views:
            grouped[(pv.day, ALL)].append(pv)
            if pv.community_slug is not None:
                grouped[(pv.day, pv.community_slug)].append(pv)
        rows = []
        for (day, slug), pvs in sorted(grouped.items()):
            peak, start = self._peak(pvs)
            rows.append(
                {
                    "day": day,
                    "community_slug": slug,
                    "peak_visitors": peak,
                    "window_start": start.replace(tzinfo=None),
                }
            )
        return rows

    def peak_visitors(self, grain: str) -> list[dict[str, Any]]:
        """Per day, ISO week or month and community (and ``(all)``): the largest daily peak
        and the earliest ``window_start`` reaching it.

        Columns: ``period_start`` (a date), ``community_slug``, ``peak_visitors``, ``window_start``.
        """
        if grain not in ("day", "week", "month"):
            raise ValueError(f"grain must be day, week or month, not {grain!r}")
        best: dict[tuple, tuple[int, dt.datetime]] = {}
        for row in self.peak_visitors_daily():
            key = (self.period_start(grain, dt.datetime.combine(row["day"], dt.time())), row["community_slug"])
            peak, start = row["peak_visitors"], row["window_start"]
            if key not in best or (-peak, start) < (-best[key][0], best[key][1]):
                best[key] = (peak, start)
        return [
            {"period_start": period, "community_slug": slug, "peak_visitors": peak, "window_start": start}
            for (period, slug), (peak, start) in sorted(best.items())
        ]

    def current_visitors(self) -> list[dict[str, Any]]:
        """Distinct visitors in (newest - 300 s, newest], newest = the latest human page view.

        Columns: ``community_slug, window_end, visitors`` (``window_end`` = newest), one row
        for ``(all)`` and one per community with a visitor in the window.
        """
        newest = max(pv.ts for pv in self.page_views)
        since = newest - dt.timedelta(seconds=WINDOW_S)
        visitors: dict[str, set[tuple]] = collections.defaultdict(set)
        for pv in self.page_views:
            if since < pv.ts <= newest:
                visitors[ALL].add(pv.visitor)
                if pv.community_slug is not None:
                    visitors[pv.community_slug].add(pv.visitor)
        return [
            {"community_slug": slug, "window_end": newest.replace(tzinfo=None), "visitors": len(v)}
            for slug, v in sorted(visitors.items())
        ]

    def _content_views(self) -> list[tuple[_PageView, str]]:
        """Page views with a captured ``post_id``, without those of the post's owner.

        Reading: "by the post's owner (signed in as owner_user_id)" means the page view's
        visitor (the visitor rule) is the owner, so an owner's anonymous views earlier in a
        session that signs in are excluded too; ``signed_in`` is likewise the visitor's.
        """
        out = []
        for pv in self.page_views:
            if pv.post_id is None:
                continue
            owner = self.owners.get(pv.post_id)
            if owner is not None and pv.visitor == ("user", owner):
                continue
            out.append((pv, pv.post_id))
        return out

    def country_code(self, ip: str) -> str:
        """GeoIP country of an address, ``Unknown`` when not located (as in countries_daily)."""
        return self.locations[ip].country or UNKNOWN

    def content_views_daily(self) -> list[dict[str, Any]]:
        """Per post, day, country_code, device_type, referrer_domain and signed_in: views and
        unique viewers (distinct visitors).

        Reading: ``country_code`` is the page view's GeoIP country (``Unknown`` when not
        located); ``referrer_domain`` is ``None`` without an http(s) referrer.
        """
        grouped: dict[tuple, list[_PageView]] = collections.defaultdict(list)
        for pv, post_id in self._content_views():
            key = (pv.day, post_id, self.country_code(pv.ip), pv.device_type, pv.referrer_domain, pv.signed_in)
            grouped[key].append(pv)
        columns = ("day", "post_id", "country_code", "device_type", "referrer_domain", "signed_in")
        return [
            {**dict(zip(columns, key, strict=True)), "views": len(pvs), "unique_viewers": len({p.visitor for p in pvs})}
            for key, pvs in sorted(grouped.items(), key=lambda kv: repr(kv[0]))
        ]

    def content_views_summary(self) -> list[dict[str, Any]]:
        """Per post and day: views, unique viewers, signed-in views, anonymous views."""
        grouped: dict[tuple, list[_PageView]] = collections.defaultdict(list)
        for pv, post_id in self._content_views():
            grouped[(pv.day, post_id)].append(pv)
        rows = []
        for (day, post_id), pvs in sorted(grouped.items()):
            signed_in = sum(1 for pv in pvs if pv.signed_in)
            rows.append(
                {
                    "day": day,
                    "post_id": post_id,
                    "views": len(pvs),
                    "unique_viewers": len({pv.visitor for pv in pvs}),
                    "signed_in_views": signed_in,
                    "anonymous_views": len(pvs) - signed_in,
                }
            )
        return rows
