"""Site-level metrics of docs/analysts/metrics.md, and the analytics API's answers, in plain Python.

The oracle of the dashboard's endpoints (traffic, pages, entry pages, referrers and campaigns,
countries, devices, status codes, crawlers, hour of week) and of the API's range answers built
on docs/analysts/communities.md (division breakdown, trends with zeros, conversions over a range,
visitors per day, content views). Like demo/ground_truth.py it is written from the specs only:
it imports nothing of ``parsers``, ``transforms``, ``warehouse`` or ``analytics``; it reads the
generated log lines back with its own regular expression, and learns what each user agent and
referrer is from the generator (demo/site.py), not from a classifier.

Conventions: days and hours are UTC (the demo runs with FOOTFALL_TIMEZONE=UTC); a visitor of
the metrics of docs/analysts/metrics.md is one (day, client address, user agent), as the daily
``visitor_id`` hashes them; ratios are rounded half away from zero on the exact value
(:func:`demo.ground_truth.rounded`). Lists are ordered as the API orders them: by the count,
descending, then by the key.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demo import site
from demo.ground_truth import GroundTruth, Hit, is_page_view, referrer_domain, rounded

GAP_S = 1800  # FOOTFALL_SESSION_GAP_S: a gap this long starts a new visit
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
LINE = re.compile(
    r'^(?P<ip>\S+) - - \[(?P<d>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<y>\d{4}):(?P<t>\d{2}:\d{2}:\d{2}) \+0000\] '
    r'"(?P<method>\S+) (?P<target>\S+) HTTP/1\.1" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referrer>[^"]*)" '
    r'"(?P<ua>[^"]*)" "(?P<user>[^"]*)" "(?P<session>[^"]*)"$'
)


def read_hits(out_dir: Path) -> list[Hit]:
    """Every request of the logs demo.traffic wrote under ``out_dir`` (logs/access.log.1, then
    logs/access.log), read with :data:`LINE`."""
    hits = []
    for name in ("access.log.1", "access.log"):
        for line in (Path(out_dir) / "logs" / name).read_text(encoding="utf-8").splitlines():
            m = LINE.match(line)
            if m is None:
                raise ValueError(f"{name}: not a line of the demo's log_format: {line!r}")
            hour, minute, second = map(int, m["t"].split(":"))
            ts = dt.datetime(int(m["y"]), MONTHS[m["mon"]], int(m["d"]), hour, minute, second, tzinfo=dt.UTC)
            dash = lambda v: None if v == "-" else v  # noqa: E731
            hits.append(
                Hit(ts, m["ip"], m["method"], m["target"], int(m["status"]), int(m["bytes"]), dash(m["referrer"]),
                    m["ua"], dash(m["user"]), dash(m["session"]))
            )  # fmt: skip
    return hits


@dataclass(frozen=True, slots=True)
class _View:
    """One counted page view with what the site metrics group it by."""

    hit: Hit
    day: dt.date
    hour: dt.datetime  # naive UTC hour start
    visitor: tuple  # (day, address, user agent): the daily visitor_id
    path: str
    referrer_class: str
    referrer_domain: str
    utm: tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class _Visit:
    day: dt.date
    first: dt.datetime
    entry_path: str
    page_views: int
    duration_s: float


def _top(counts: dict, limit: int, key_names: tuple[str, ...], value_names: tuple[str, ...]) -> list[dict]:
    """Rows of ``{key tuple: value tuple}`` by the first value descending, then the key."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [dict(zip(key_names + value_names, (*k, *v), strict=True)) for k, v in ordered]


class SiteTruth:
    """Expected answers for one generated site.

    Args:
        hits: every request of the logs (:func:`read_hits`).
        truth: the community ground truth of the same traffic (visitor rules, divisions, locations).
        site_host: the site's host name (FOOTFALL_SITE_HOSTS): referrers from it are internal.
        device_types: user agent -> device type, for every human user agent.
    """

    def __init__(self, hits: list[Hit], truth: GroundTruth, site_host: str, device_types: dict[str, str]) -> None:
        self.truth = truth
        self.hits = sorted(hits, key=lambda h: h.ts)
        self.device_types = device_types
        host = site_host.lower().removeprefix("www.")
        self.views: list[_View] = []
        for hit in self.hits:
            if hit.user_agent in site.CRAWLER_NAMES or not is_page_view(hit):
                continue
            domain = referrer_domain(hit.referrer)
            if not hit.referrer:
                kind = "direct"
            elif domain is not None and (domain == host or domain.endswith("." + host)):
                kind = "internal"
            else:
                kind = site.REFERRER_CLASSES.get(domain, "other")
            query = parse_qs(urlsplit(hit.target).query)
            utm = tuple(query.get(f"utm_{k}", [""])[0] for k in ("source", "medium", "campaign"))
            day = hit.ts.date()
            hour = hit.ts.replace(minute=0, second=0, tzinfo=None)
            self.views.append(
                _View(hit, day, hour, (day, hit.ip, hit.user_agent), hit.path, kind, domain or "", utm)
            )
        self.visits = self._visits()

    def _visits(self) -> list[_Visit]:
        """docs/analysts/metrics.md, Visits: a visitor's page views with gaps under GAP_S seconds."""
        by_visitor: dict[tuple, list[_View]] = collections.defaultdict(list)
        for view in self.views:
            by_visitor[view.visitor].append(view)
        visits = []
        for views in by_visitor.values():
            current: list[_View] = []
            for view in views + [None]:
                if current and (view is None or (view.hit.ts - current[-1].hit.ts).total_seconds() >= GAP_S):
                    first = min(current, key=lambda v: (v.hit.ts, v.path))
                    duration = (current[-1].hit.ts - current[0].hit.ts).total_seconds()
                    visits.append(_Visit(first.day, first.hit.ts, first.path, len(current), duration))
                    current = []
                if view is not None:
                    current.append(view)
        return visits

    @staticmethod
    def _days(start: dt.date, end: dt.date) -> list[dt.date]:
        return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]

    def _in(self, start: dt.date, end: dt.date) -> list[_View]:
        return [v for v in self.views if start <= v.day <= end]

    # -- traffic -----------------------------------------------------------------------------

    def _traffic(self, start: dt.date, end: dt.date, bucket) -> dict:
        """Per bucket (day or hour) of the range: hits, page views, visitors, visits, bounces, duration."""
        out: dict = collections.defaultdict(lambda: {"hits": 0, "views": 0, "visitors": set(), "visits": []})
        for hit in self.hits:
            if start <= hit.ts.date() <= end:
                out[bucket(hit.ts)]["hits"] += 1
        for view in self._in(start, end):
            out[bucket(view.hit.ts)]["views"] += 1
            out[bucket(view.hit.ts)]["visitors"].add(view.visitor)
        for visit in self.visits:
            if start <= visit.day <= end:
                out[bucket(visit.first)]["visits"].append(visit)
        return out

    @staticmethod
    def _point(label: str, cell: dict) -> dict[str, Any]:
        visits = cell["visits"]
        return {
            "label": label,
            "hits": cell["hits"],
            "page_views": cell["views"],
            "visitors": len(cell["visitors"]),
            "visits": len(visits),
            "bounce_rate": rounded(sum(v.page_views == 1 for v in visits), len(visits), 2, 100),
            "avg_visit_duration_s": rounded(int(sum(v.duration_s for v in visits)), len(visits), 1),
        }

    def traffic_daily(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """``traffic/?interval=day``: every day of the range."""
        cells = self._traffic(start, end, lambda ts: ts.date())
        return [self._point(d.isoformat(), cells[d]) for d in self._days(start, end)]

    def traffic_hourly(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """``traffic/?interval=hour``: every hour of the range."""
        cells = self._traffic(start, end, lambda ts: ts.replace(minute=0, second=0, tzinfo=None))
        hours = [dt.datetime.combine(d, dt.time(h)) for d in self._days(start, end) for h in range(24)]
        return [self._point(h.strftime("%Y-%m-%dT%H:00"), cells[h]) for h in hours]

    def traffic_totals(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        """``traffic/`` totals; visitor_days sums each day's unique visitors."""
        visits = [v for v in self.visits if start <= v.day <= end]
        bounces = sum(v.page_views == 1 for v in visits)
        return {
            "hits": sum(1 for h in self.hits if start <= h.ts.date() <= end),
            "page_views": len(self._in(start, end)),
            "visitor_days": len({v.visitor for v in self._in(start, end)}),
            "visits": len(visits),
            "bounces": bounces,
            "bounce_rate": rounded(bounces, len(visits), 2, 100),
            "avg_visit_duration_s": rounded(int(sum(v.duration_s for v in visits)), len(visits), 1),
        }

    def hour_of_week(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """``peak-visitors/`` hour_of_week: per ISO weekday and hour with hits in the range."""
        cells = self._traffic(start, end, lambda ts: ts.replace(minute=0, second=0, tzinfo=None))
        weekdays = collections.Counter(d.isoweekday() for d in self._days(start, end))
        grouped: dict[tuple, list[dict]] = collections.defaultdict(list)
        for hour, cell in cells.items():
            grouped[(hour.isoweekday(), hour.hour)].append(cell)
        rows = []
        for (weekday, hour), group in sorted(grouped.items()):
            visitors = [len(c["visitors"]) for c in group]
            rows.append(
                {
                    "weekday": weekday,
                    "hour": hour,
                    "page_views": sum(c["views"] for c in group),
                    "visitors": sum(visitors),
                    "max_visitors": max(visitors),
                    "avg_visitors": rounded(sum(visitors), weekdays[weekday], 2),
                }
            )
        return rows

    # -- pages and sources ---------------------------------------------------------------------

    def _per(self, start: dt.date, end: dt.date, key) -> dict[tuple, tuple[int, int]]:
        """key(view) -> (page views, visitors summed over days) over the range."""
        views: collections.Counter = collections.Counter()
        visitors: dict[tuple, set] = collections.defaultdict(set)
        for view in self._in(start, end):
            views[key(view)] += 1
            visitors[key(view)].add(view.visitor)  # the visitor tuple holds the day
        return {k: (n, len(visitors[k])) for k, n in views.items()}

    def pages(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        return _top(self._per(start, end, lambda v: (v.path,)), limit, ("path",), ("page_views", "visitors"))

    def entry_pages(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        counts: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
        for visit in self.visits:
            if start <= visit.day <= end:
                counts[(visit.entry_path,)][0] += 1
                counts[(visit.entry_path,)][1] += visit.page_views == 1
        rows = _top({k: tuple(v) for k, v in counts.items()}, limit, ("path",), ("entries", "bounces"))
        return [{**r, "bounce_rate": rounded(r["bounces"], r["entries"], 2, 100)} for r in rows]

    def referrers(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        counts = self._per(start, end, lambda v: (v.referrer_class, v.referrer_domain))
        return _top(counts, limit, ("referrer_class", "referrer_domain"), ("page_views", "visitors"))

    def campaigns(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        counts = {k: v for k, v in self._per(start, end, lambda v: v.utm).items() if any(k)}
        return _top(counts, limit, ("utm_source", "utm_medium", "utm_campaign"), ("page_views", "visitors"))

    def countries(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        counts = self._per(start, end, lambda v: (self.truth.country_code(v.hit.ip),))
        return _top(counts, limit, ("country_code",), ("page_views", "visitors"))

    def devices(self, start: dt.date, end: dt.date) -> dict[str, list[dict[str, Any]]]:
        keys = {
            "device_types": lambda v: (self.device_types[v.hit.user_agent],),
            "browsers": lambda v: (site.BROWSER_FAMILIES[v.hit.user_agent][0],),
            "operating_systems": lambda v: (site.BROWSER_FAMILIES[v.hit.user_agent][1],),
        }
        return {
            name: _top(self._per(start, end, key), 10**6, ("name",), ("page_views", "visitors"))
            for name, key in keys.items()
        }

    # -- errors and crawlers -------------------------------------------------------------------

    def statuses(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Every hit, crawlers included, per status, by status."""
        counts = collections.Counter(h.status for h in self.hits if start <= h.ts.date() <= end)
        return [{"status": s, "hits": n} for s, n in sorted(counts.items())]

    def top_404_paths(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        """Human hits answered 404, per path."""
        counts = collections.Counter(
            (h.path,)
            for h in self.hits
            if start <= h.ts.date() <= end and h.status == 404 and h.user_agent not in site.CRAWLER_NAMES
        )
        return _top({k: (n,) for k, n in counts.items()}, limit, ("path",), ("hits",))

    def crawlers(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        counts: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
        for h in self.hits:
            if start <= h.ts.date() <= end and h.user_agent in site.CRAWLER_NAMES:
                counts[(site.CRAWLER_NAMES[h.user_agent],)][0] += 1
                counts[(site.CRAWLER_NAMES[h.user_agent],)][1] += h.bytes_sent
        return _top({k: tuple(v) for k, v in counts.items()}, limit, ("crawler_name",), ("hits", "bytes"))

    # -- the community metrics over a range (docs/analysts/communities.md) ---------------------------------

    def division_breakdown(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        """Visitors per visitor division (None: Unknown), ties by id with Unknown last."""
        counts = collections.Counter(self.truth.visitor_divisions(start, end).values())
        total = sum(counts.values())
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))[:limit]
        rows = []
        for division_id, n in ranked:
            division = self.truth.divisions.get(division_id)
            rows.append(
                {
                    "division_id": division_id,
                    "division_name": division.name if division else "Unknown",
                    "division_type": division.type if division else "Unknown",
                    "count": n,
                    "percentage": rounded(n, total, 2, 100),
                }
            )
        return rows

    def trends(self, grain: str, start: dt.date, end: dt.date, community_slug: str | None) -> dict[str, list]:
        """Every period of the range (zeros where none): labels and visitors, optionally of one community."""
        grouped: dict[Any, set] = collections.defaultdict(set)
        for pv in self.truth.page_views:
            if start <= pv.day <= end and (community_slug is None or pv.community_slug == community_slug):
                grouped[self.truth.period_start(grain, pv.ts)].add(pv.visitor)
        first = self.truth.period_start(grain, dt.datetime.combine(start, dt.time()))
        last = self.truth.period_start(grain, dt.datetime.combine(end, dt.time(23)))
        periods, period = [], first
        while period <= last:
            periods.append(period)
            if grain == "hour":
                period += dt.timedelta(hours=1)
            elif grain in ("day", "week"):
                period += dt.timedelta(days=1 if grain == "day" else 7)
            else:
                period = (period + dt.timedelta(days=32)).replace(day=1)
        out = {"labels": [], "total": [], "authenticated": [], "anonymous": []}
        for period in periods:
            visitors = grouped.get(period, set())
            signed_in = sum(1 for v in visitors if v[0] == "user")
            out["labels"].append(period.strftime("%Y-%m-%dT%H:00") if grain == "hour" else period.isoformat())
            out["total"].append(len(visitors))
            out["authenticated"].append(signed_in)
            out["anonymous"].append(len(visitors) - signed_in)
        return out

    def conversions(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        """``conversions/``: totals of the range and every day of it."""
        by_day = {r["day"]: r for r in self.truth.conversions_daily()}
        days = []
        for day in self._days(start, end):
            row = by_day.get(day, {})
            days.append(
                {
                    "date": day.isoformat(),
                    "conversions": row.get("conversions", 0),
                    "sessions_with_anonymous_hits": row.get("sessions_with_anonymous_hits", 0),
                    "conversion_rate": row.get("conversion_rate_pct"),
                    "seconds": row.get("seconds_to_conversion") or 0,
                }
            )
        converted = sum(d["conversions"] for d in days)
        sessions = sum(d["sessions_with_anonymous_hits"] for d in days)
        return {
            "total_conversions": converted,
            "sessions_with_anonymous_hits": sessions,
            "conversion_rate": rounded(converted, sessions, 2, 100),
            "avg_time_to_conversion": rounded(int(sum(d.pop("seconds") for d in days)), converted, 1),
            "conversions_by_date": days,
        }

    def visitors_by_day(self, start: dt.date, end: dt.date, community_slug: str | None) -> list[dict[str, Any]]:
        """``export/`` rows: visitor_stats of each day of the range."""
        rows = []
        for day in self._days(start, end):
            stats = self.truth.visitor_stats(day, day, community_slug)[0]
            rows.append(
                {
                    "date": day.isoformat(),
                    "total_visitors": stats["visitors"],
                    "authenticated_visitors": stats["signed_in_visitors"],
                    "anonymous_visitors": stats["anonymous_visitors"],
                    "page_views": stats["page_views"],
                }
            )
        return rows

    def country_name(self, iso_country: str) -> str:
        """A country's name: its top-level division's name (smallest id), else the code."""
        roots = sorted(
            (d for d in self.truth.divisions.values() if d.iso_country == iso_country and d.parent_id is None),
            key=lambda d: d.division_id,
        )
        return roots[0].name if roots else iso_country

    # -- content views (docs/analysts/communities.md) -----------------------------------------------------

    def _post_views(self, start: dt.date, end: dt.date):
        """Page views of posts in the range, without the owner's own (the visitor rule)."""
        for pv in self.truth.page_views:
            if pv.post_id is None or not start <= pv.day <= end:
                continue
            owner = self.truth.owners.get(pv.post_id)
            if owner is not None and pv.visitor == ("user", owner):
                continue
            yield pv

    def content(self, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        grouped: dict[str, list] = collections.defaultdict(list)
        for pv in self._post_views(start, end):
            grouped[pv.post_id].append(pv)
        kinds = {p.post_id: p.kind for p in self.truth.dimensions.content}
        rows = [
            {
                "post_id": post_id,
                "kind": kinds.get(post_id),
                "views": len(pvs),
                "unique_viewers": len({pv.visitor for pv in pvs}),
                "signed_in_views": sum(pv.signed_in for pv in pvs),
                "anonymous_views": sum(not pv.signed_in for pv in pvs),
            }
            for post_id, pvs in grouped.items()
        ]
        return sorted(rows, key=lambda r: (-r["views"], r["post_id"]))[:limit]

    def post(self, post_id: str, start: dt.date, end: dt.date) -> dict[str, Any]:
        """``content/<post_id>/``: totals and views by country, device type and referrer domain."""
        pvs = [pv for pv in self._post_views(start, end) if pv.post_id == post_id]
        out: dict[str, Any] = {
            "post_id": post_id,
            "kind": next(p.kind for p in self.truth.dimensions.content if p.post_id == post_id),
            "views": len(pvs),
            "unique_viewers": len({pv.visitor for pv in pvs}),
        }
        for name, key in (
            ("by_country", lambda pv: self.truth.country_code(pv.ip)),
            ("by_device", lambda pv: pv.device_type),
            ("by_referrer", lambda pv: pv.referrer_domain),
        ):
            grouped: dict[Any, list] = collections.defaultdict(list)
            for pv in pvs:
                grouped[key(pv)].append(pv)
            rows = [
                {"name": k, "views": len(g), "unique_viewers": len({p.visitor for p in g})} for k, g in grouped.items()
            ]
            out[name] = sorted(rows, key=lambda r: (-r["views"], r["name"] is None, r["name"] or ""))
        return out
