"""A small site for the country, page and referrer filters, and a plain-Python oracle over it.

The log is written here (combined format, seeded): real public addresses from
../shared/data/real/apache_logs (so GeoIP places them in several countries), four browsers and
Googlebot, pages, an asset, a 404, referrers from search, social and other sites, and hostile
paths and referrers (script tags, attribute break-outs, ``javascript:``) written the way nginx
logs them (a double quote as ``\\x22``). The oracle reads the lines back with its own regular
expression and counts from docs/analysts/metrics.md, never through footfall's SQL.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import re
from dataclasses import dataclass
from pathlib import Path

from conftest import shared_log
from oracle import country, is_page_view

DAYS = [dt.date(2026, 3, 2) + dt.timedelta(days=k) for k in range(4)]
BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
]
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAGES = ["/", "/about", "/blog/first-post", "/blog/second-post", "/contact", "/pricing"]
REFERRERS = [
    "-",
    "-",
    "https://www.google.com/search?q=footfall",
    "https://news.ycombinator.com/item?id=1",
    "https://www.reddit.com/r/analytics/",
    "http://blog.example.org:8080/links",
]
# Hostile strings as a visitor sends them; the log escapes the double quote as nginx does.
HOSTILE_PAGES = ["/<script>alert(1)</script>", '/"><img src=x onerror=alert(2)>', "/javascript:alert(3)"]
HOSTILE_REFERRERS = [
    "http://<script>alert(4)</script>",
    'http://x"><img src=x onerror=alert(5)>/',
    "javascript:alert(6)",
]
_LINE = re.compile(
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<target>\S+) [^"]*" (?P<status>\d{3}) \S+ '
    r'"(?P<referrer>[^"]*)" "(?P<ua>[^"]*)"$'
)


def _addresses(n: int) -> list[str]:
    """The first ``n`` distinct client addresses of apache_logs (real, public, many countries)."""
    seen: list[str] = []
    with open(shared_log("apache_logs"), encoding="utf-8", errors="replace") as f:
        for line in f:
            address = line.split(" ", 1)[0]
            if address not in seen:
                seen.append(address)
            if len(seen) == n:
                break
    return seen


def stored(value: str) -> str:
    """A path or referrer as footfall stores it: a request line has no spaces, so a client sends
    them as %20, and paths are kept as logged (docs/analysts/metrics.md)."""
    return value.replace(" ", "%20")


def _logged(value: str) -> str:
    return stored(value).replace('"', "\\x22")


def write_log(path: Path, seed: int = 15) -> None:
    """Write the site's access log to ``path``: about 2,000 lines over :data:`DAYS`."""
    rng = random.Random(seed)
    addresses = _addresses(60)
    lines = []
    for day in DAYS:
        for address in rng.sample(addresses, 40):
            ua = rng.choice(BROWSERS)
            when = dt.datetime.combine(day, dt.time(rng.randrange(0, 20), rng.randrange(60)), dt.UTC)
            for _ in range(rng.randrange(1, 4)):  # visits
                for _ in range(rng.choice([1, 1, 2, 3, 5])):  # page views of the visit
                    page = rng.choice(PAGES)
                    referrer = rng.choice(REFERRERS)
                    lines.append((when, address, "GET", page, 200, referrer, ua))
                    if rng.random() < 0.5:
                        lines.append((when, address, "GET", "/static/site.css", 200, f"https://example.com{page}", ua))
                    when += dt.timedelta(seconds=rng.randrange(5, 600))
                when += dt.timedelta(seconds=rng.choice([1800, 2400, 7200]))
            if rng.random() < 0.2:
                lines.append((when, address, "GET", "/missing", 404, "-", ua))
        for address in rng.sample(addresses, 5):
            when = dt.datetime.combine(day, dt.time(21, rng.randrange(60)), dt.UTC)
            lines.append((when, address, "GET", rng.choice(PAGES), 200, rng.choice(REFERRERS), GOOGLEBOT))
    # Hostile pages, each from enough visitors to be among the top pages, hostile referrers.
    for k, page in enumerate(HOSTILE_PAGES):
        for n, referrer in enumerate(HOSTILE_REFERRERS * 4):
            when = dt.datetime.combine(DAYS[-1], dt.time(22, 10 * k + n % 10), dt.UTC)
            lines.append((when, addresses[n], "GET", page, 200, referrer, BROWSERS[k]))
    lines.sort(key=lambda row: row[0])
    with open(path, "w", encoding="utf-8") as f:
        for when, address, method, page, status, referrer, ua in lines:
            stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
            f.write(
                f'{address} - - [{stamp}] "{method} {_logged(page)} HTTP/1.1" {status} 512 '
                f'"{_logged(referrer)}" "{ua}"\n'
            )


# --------------------------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class Hit:
    ip: str
    ts: dt.datetime
    method: str
    path: str
    status: int
    referrer: str
    ua: str

    @property
    def day(self) -> dt.date:
        return self.ts.date()  # the site is read in UTC

    @property
    def page_view(self) -> bool:
        return is_page_view(self) and "Googlebot" not in self.ua

    @property
    def country(self) -> str:
        return _country(self.ip)

    @property
    def referrer_domain(self) -> str | None:
        """docs/analysts/metrics.md: the host of an http(s) referrer, lower case, without port and www."""
        if not re.match(r"(?i)https?://", self.referrer):
            return None
        host = re.match(r"(?i)https?://([^/?#]*)", self.referrer).group(1).lower()
        host = host.rsplit(":", 1)[0] if re.fullmatch(r"[^:]*:\d*", host) else host
        return host.removeprefix("www.") or None


_COUNTRIES: dict[str, str] = {}


def _country(ip: str) -> str:
    if ip not in _COUNTRIES:
        _COUNTRIES[ip] = country(ip)
    return _COUNTRIES[ip]


def _unescape(value: str) -> str:
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def read_log(path: Path) -> list[Hit]:
    """The hits of the site's log, with the escapes nginx writes undone."""
    hits = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line)
        target = _unescape(m["target"]).split("?", 1)[0]
        ts = dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").astimezone(dt.UTC)
        referrer = _unescape(m["referrer"])
        hits.append(Hit(m["ip"], ts, m["method"], target, int(m["status"]), referrer, m["ua"]))
    return hits


def matches(hit: Hit, filters: dict[str, str]) -> bool:
    """A hit matches when it has every filter's value."""
    return (
        filters.get("country", hit.country) == hit.country
        and filters.get("page", hit.path) == hit.path
        and ("referrer" not in filters or filters["referrer"] == hit.referrer_domain)
    )


def visits(hits: list[Hit]) -> list[list[Hit]]:
    """docs/analysts/metrics.md, Visits: each visitor's (day, address, user agent) page views in time order,
    a gap of 1800 s or more starting a new visit."""
    by_visitor: dict[tuple, list[Hit]] = collections.defaultdict(list)
    for hit in hits:
        if hit.page_view:
            by_visitor[(hit.day, hit.ip, hit.ua)].append(hit)
    out = []
    for views in by_visitor.values():
        views.sort(key=lambda h: h.ts)
        current = [views[0]]
        for previous, hit in zip(views, views[1:], strict=False):
            if (hit.ts - previous.ts).total_seconds() >= 1800:
                out.append(current)
                current = []
            current.append(hit)
        out.append(current)
    return out


def _round(numerator: float, denominator: float, digits: int) -> float | None:
    from decimal import ROUND_HALF_UP, Decimal

    if not denominator:
        return None
    exact = Decimal(numerator) / Decimal(denominator)
    return float(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def expected(hits: list[Hit], filters: dict[str, str], days: list[dt.date] | None = None) -> dict:
    """What every filtered panel must show over ``days`` (default: all), from the definitions:
    KPIs, pages, entry pages, referrers, countries, statuses."""
    if days is not None:
        hits = [h for h in hits if h.day in days]
    matching = [h for h in hits if matches(h, filters)]
    views = [h for h in matching if h.page_view]
    kept = [v for v in visits(hits) if any(matches(h, filters) for h in v)]
    bounces = sum(1 for v in kept if len(v) == 1)
    duration = sum((v[-1].ts - v[0].ts).total_seconds() for v in kept)

    def per(key) -> dict:
        counts: dict = collections.defaultdict(lambda: [0, set()])
        for h in views:
            counts[key(h)][0] += 1
            counts[key(h)][1].add((h.day, h.ip, h.ua))
        return {k: (n, len(people)) for k, (n, people) in counts.items()}

    entries: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for v in kept:
        first = min(v, key=lambda h: (h.ts, h.path))
        entries[first.path][0] += 1
        entries[first.path][1] += len(v) == 1
    statuses = collections.Counter(h.status for h in matching)
    return {
        "visitors": len({(h.day, h.ip, h.ua) for h in views}),
        "page_views": len(views),
        "hits": len(matching),
        "visits": len(kept),
        "bounces": bounces,
        "bounce_rate": _round(100 * bounces, len(kept), 2),
        "avg_visit_duration_s": _round(duration, len(kept), 1),
        "pages": per(lambda h: h.path),
        "countries": per(lambda h: h.country),
        # Without a domain: direct (no referrer) apart from the rest (javascript:, relative...).
        "referrers": per(lambda h: h.referrer_domain or ("direct" if h.referrer in ("", "-") else "no domain")),
        "entries": {path: tuple(v) for path, v in entries.items()},
        "statuses": dict(statuses),
    }
