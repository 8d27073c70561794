"""A deterministic, seeded generator of community traffic with its ground truth.

The public logs carry no communities or signed-in users, so this writes a site that has them:
nginx access logs in a custom ``log_format`` (user id from an upstream header, session id from
a cookie), the routes, the dimension files and the settings to run footfall on them, and
returns a :class:`demo.ground_truth.GroundTruth` that knows every metric of
docs/analysts/communities.md for them.

Usage::

    python -m demo.traffic OUT_DIR [--seed N] [--days N] [--end-day YYYY-MM-DD] [--scale X]

Writes, under ``OUT_DIR``:

* ``logs/access.log.1`` (every day but the last 7) and ``logs/access.log`` (the last 7 days),
  lines in time order, in :data:`LOG_FORMAT` with ``$time_local`` in ``+0000``;
* ``routes.toml`` (:data:`ROUTES`), ``dimensions/{divisions,communities,content,users}.csv``;
* ``footfall.env``: the ``FOOTFALL_*`` settings for these files, shell-sourceable;
* ``ground_truth.json``: a few expected values, for ``make demo`` to print beside footfall's.

What the traffic holds (defaults: 45 days to 2026-10-31, ~30,000 lines): visitors from 17
places (cities, provinces and countries of the division tree, a country without a division,
private ``10.x`` addresses), anonymous visitors with and without a session cookie, signed-in
users (some with a home division, some not in ``users.csv``), anonymous visitors who sign in
(``POST /login`` answered with the user id), owners reading their own posts, sessions that
change address, crawlers, uptime probes, scanners, assets, 304s, redirects, 404s and 500s,
and late-night bursts so that 5-minute peaks and the current visitors are not trivial.

Client addresses are found in the bundled GeoLite2 City database with ``geoip2``: for each
place, seeded random addresses inside a few /16 networks known to hold it are looked up and
kept when GeoIP returns the place (a few thousand lookups, well under a second).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.ground_truth import (
    Community,
    Dimensions,
    Division,
    GroundTruth,
    Hit,
    Location,
    Post,
    Route,
    User,
)
from demo.site import tag_landing

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$upstream_http_x_user_id" "$cookie_sessionid"'
)
SITE = "www.mapleforum.example"
ROTATED_DAYS = 7  # access.log holds the last week; access.log.1 everything before

ROUTES: tuple[Route, ...] = (
    Route("community_post", "/communities/{community_slug}/posts/{post_id}"),
    Route("community", "/communities/{community_slug}/..."),
    Route("blog_post", "/blog/{post_id}"),
    Route("post", "/posts/{post_id}"),
    Route("profile", "/users/{username}"),
)

# The division tree: a country with provinces and cities (and a region of two cities), a
# country with states, a country without subdivisions. city_names are GeoIP's English names.
DIVISIONS: tuple[Division, ...] = (
    Division("CA", "Canada", "country", None, "CA", None, ()),
    Division("CA-ON", "Ontario", "province", "CA", "CA", "ON", ()),
    Division("CA-ON-TOR", "Toronto", "city", "CA-ON", "CA", "ON", ("Toronto",)),
    Division("CA-ON-OTT", "Ottawa", "city", "CA-ON", "CA", "ON", ("Ottawa",)),
    Division("CA-ON-PEEL", "Peel Region", "region", "CA-ON", "CA", "ON", ("Mississauga", "Brampton")),
    Division("CA-QC", "Quebec", "province", "CA", "CA", "QC", ()),
    Division("CA-QC-MTL", "Montreal", "city", "CA-QC", "CA", "QC", ("Montreal",)),
    Division("CA-BC", "British Columbia", "province", "CA", "CA", "BC", ()),
    Division("CA-BC-VAN", "Vancouver", "city", "CA-BC", "CA", "BC", ("Vancouver",)),
    Division("US", "United States", "country", None, "US", None, ()),
    Division("US-NY", "New York State", "state", "US", "US", "NY", ()),
    Division("US-NY-NYC", "New York City", "city", "US-NY", "US", "NY", ("New York",)),
    Division("US-WA", "Washington", "state", "US", "US", "WA", ()),
    Division("DE", "Germany", "country", None, "DE", None, ()),
)

# Communities at city, region, province, state and country level; two share a division.
COMMUNITIES: tuple[Community, ...] = (
    Community("toronto", "C001", "CA-ON-TOR"),
    Community("toronto-food", "C002", "CA-ON-TOR"),
    Community("ottawa", "C003", "CA-ON-OTT"),
    Community("peel", "C004", "CA-ON-PEEL"),
    Community("ontario", "C005", "CA-ON"),
    Community("montreal", "C006", "CA-QC-MTL"),
    Community("quebec", "C007", "CA-QC"),
    Community("vancouver", "C008", "CA-BC-VAN"),
    Community("canada", "C009", "CA"),
    Community("nyc", "C010", "US-NY-NYC"),
    Community("washington", "C011", "US-WA"),
    Community("germany", "C012", "DE"),
)

ANY = "*"  # a Place field GeoIP may answer with anything (or nothing)


@dataclass(frozen=True)
class Place:
    """Where visitors come from: what GeoIP must say about their addresses.

    ``subdivision``/``city``: a value, ``ANY``, or ``None`` (GeoIP must have none). ``hints``:
    /16 networks (``"142.194"``) where GeoLite2 (July 2018) places many addresses here; the
    generator checks every address it keeps, so a wrong hint costs time, never truth.
    ``weight``: share of visitors; ``communities``: the ones its people read most.
    """

    name: str
    country: str | None
    subdivision: str | None
    city: str | None
    hints: tuple[str, ...]
    weight: int
    communities: tuple[str, ...]

    def matches(self, location: Location) -> bool:
        return all(
            want == ANY or want == got
            for want, got in (
                (self.country, location.country),
                (self.subdivision, location.subdivision),
                (self.city, location.city),
            )
        )


PRIVATE = "office"  # the place of private 10.x addresses (a company VPN): GeoIP unknown
PLACES: tuple[Place, ...] = (
    Place("toronto", "CA", "ON", "Toronto", ("142.194", "142.151", "159.18", "104.242", "142.247", "142.150"), 18,
          ("toronto", "toronto-food", "ontario", "canada")),
    Place("ottawa", "CA", "ON", "Ottawa", ("167.34", "142.97", "158.128", "142.64", "137.122", "142.206"), 8,
          ("ottawa", "ontario", "canada")),
    Place("mississauga", "CA", "ON", "Mississauga", ("142.193", "142.240", "140.167", "167.17"), 4,
          ("peel", "toronto", "ontario")),
    Place("brampton", "CA", "ON", "Brampton", ("162.53", "104.234", "72.136", "74.198", "99.247"), 2,
          ("peel", "toronto")),
    Place("hamilton", "CA", "ON", "Hamilton", ("142.222", "142.153", "24.36", "142.238"), 3, ("ontario", "toronto")),
    Place("montreal", "CA", "QC", "Montreal", ("144.194", "130.129", "158.69", "174.142", "142.242", "162.70"), 9,
          ("montreal", "quebec", "canada")),
    Place("laval", "CA", "QC", "Laval", ("70.81", "66.130", "135.19", "24.200", "24.203", "184.144"), 2,
          ("montreal", "quebec")),
    Place("vancouver", "CA", "BC", "Vancouver", ("142.90", "142.231", "142.103", "137.82", "24.84", "206.87"), 7,
          ("vancouver", "canada")),
    Place("calgary", "CA", "AB", "Calgary", ("68.147", "136.159", "142.5", "158.141", "161.19"), 3,
          ("canada", "vancouver")),
    Place("canada", "CA", None, None, ("142.126", "24.81", "97.110", "198.165", "173.182", "99.222"), 2, ("canada",)),
    Place("new_york", "US", "NY", "New York", ("159.123", "169.103", "75.96", "167.245", "169.82", "152.146"), 7,
          ("nyc",)),
    Place("buffalo", "US", "NY", "Buffalo", ("172.245", "136.183", "138.92", "169.207", "168.169"), 2,
          ("nyc", "toronto")),
    Place("seattle", "US", "WA", "Seattle", ("3.58", "13.41", "164.72", "3.52", "3.42"), 4,
          ("washington", "vancouver")),
    Place("dallas", "US", "TX", "Dallas", ("74.86", "67.18", "174.122", "129.112", "74.55"), 2, ("nyc",)),
    Place("germany", "DE", ANY, ANY, ("53.55", "87.77", "93.128", "134.2", "93.131", "139.27"), 3, ("germany",)),
    Place("france", "FR", ANY, ANY, ("163.88", "109.216", "176.153", "79.91", "156.118", "195.83"), 2,
          ("montreal", "canada")),
    Place(PRIVATE, None, None, None, ("10.20", "10.21"), 3, ("toronto", "ontario")),
)  # fmt: skip
PLACES_BY_NAME = {p.name: p for p in PLACES}

# Browsers: (user agent, device type as footfall's classifier sees it).
BROWSERS: tuple[tuple[str, str], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
     "Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
     "Safari/537.36 Edg/129.0.0.0", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
     "Safari/605.1.15", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
     "Safari/537.36", "desktop"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
     "Mobile/15E148 Safari/604.1", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6668.100 Mobile "
     "Safari/537.36", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 "
     "Chrome/122.0.0.0 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
     "Mobile/15E148 Safari/604.1", "tablet"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 "
     "Safari/537.36", "tablet"),
)  # fmt: skip
BROWSER_WEIGHTS = (20, 6, 5, 9, 8, 22, 14, 6, 6, 4)

# Crawlers and other non-human clients footfall must flag (tests check its classifier agrees).
CRAWLERS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) "
    "Chrome/129.0.6668.89 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "curl/8.5.0",
    "python-requests/2.32.3",
)
PROBE_AGENT = "kube-probe/1.30"  # the load balancer's /healthz probe: a crawler to footfall
MONITOR_AGENT = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
NON_HUMAN_AGENTS = frozenset((*CRAWLERS, PROBE_AGENT, MONITOR_AGENT))

# First page of a session: where it came from. None = typed or bookmarked (logged "-").
ENTRY_REFERRERS: tuple[tuple[str | None, int], ...] = (
    (None, 40),
    ("https://www.google.com/", 14),
    ("https://www.google.ca/search?q=community+events", 6),
    ("https://duckduckgo.com/", 4),
    ("https://WWW.Reddit.com:443/r/canada/comments/1abcde/", 9),
    ("https://m.facebook.com/", 7),
    ("https://news.ycombinator.com/item?id=41234567", 3),
    ("android-app://com.google.android.gm/", 4),
    (f"https://{SITE}/", 13),
)
ASSETS = ("/static/app.css", "/static/app.js", "/img/logo.png", "/favicon.ico", "/assets/fonts/inter.woff2")
SCANNER_PATHS = ("/wp-login.php", "/.env", "/admin", "/phpmyadmin/", "/.git/config", "/xmlrpc.php")
# Hour-of-day weights (UTC): the audience is in North America (UTC-4 to UTC-7), so its
# evening is the UTC night; a little European traffic in the UTC afternoon.
HOUR_WEIGHTS = (9, 8, 7, 6, 4, 3, 2, 2, 2, 2, 3, 4, 6, 8, 9, 10, 10, 10, 10, 11, 12, 13, 13, 11)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- client addresses ---------------------------------------------------------------------------


def find_addresses(seed: int, per_place: int) -> dict[str, dict[str, Location]]:
    """Place name -> {address: Location} with ``per_place`` public IPv4 addresses that the
    bundled GeoLite2 City database (read with ``geoip2.database.Reader``) puts there.

    Deterministic: each place has its own ``random.Random`` seeded from ``seed`` and its name.
    Private ``10.x`` addresses (the ``office`` place) are not looked up: GeoIP knows none.

    Raises:
        RuntimeError: a place's hints yielded too few addresses (the database changed).
    """
    import geoip2.database
    import geoip2.errors
    from _maxminddb_geolite2 import geolite2_database

    out: dict[str, dict[str, Location]] = {}
    with geoip2.database.Reader(geolite2_database()) as reader:
        for place in PLACES:
            rng = random.Random(f"{seed}:addresses:{place.name}")
            found: dict[str, Location] = {}
            attempts = 0
            while len(found) < per_place:
                attempts += 1
                if attempts > 200 * per_place:
                    raise RuntimeError(
                        f"only {len(found)} of {per_place} addresses found for {place.name} in {place.hints}: "
                        "update Place.hints for this GeoIP database"
                    )
                address = f"{rng.choice(place.hints)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                if address in found:
                    continue
                if place.name == PRIVATE:
                    found[address] = Location(None, None, None)
                    continue
                location = lookup(reader, address, geoip2.errors.AddressNotFoundError)
                if place.matches(location):
                    found[address] = location
            out[place.name] = found
    return out


def lookup(reader, address: str, not_found: type[Exception]) -> Location:
    """GeoIP of one address with a geoip2 reader: country, first subdivision, English city."""
    try:
        record = reader.city(address)
    except (not_found, ValueError):
        return Location(None, None, None)
    subdivision = record.subdivisions[0].iso_code if record.subdivisions else None
    return Location(record.country.iso_code, subdivision, record.city.names.get("en"))


# -- the simulation -----------------------------------------------------------------------------


@dataclass
class _Person:
    """A registered user: where they live and browse from, and how often."""

    user_id: str
    place: str
    devices: tuple[tuple[str, str], ...]  # (user agent, device type)
    addresses: tuple[str, ...]
    activity: float  # probability of a session on an average day
    app_without_cookie: bool  # their app sends no session cookie: sessions keyed by address + agent


class _Simulation:
    """Writes hits for one generated site; every random choice comes from one seeded RNG."""

    def __init__(self, seed: int, days: int, end_day: dt.date, scale: float) -> None:
        if days < 2:
            raise ValueError("days must be at least 2")
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.rng = random.Random(seed)
        self.scale = scale
        self.first_day = end_day - dt.timedelta(days=days - 1)
        self.end_day = end_day
        self.days = [self.first_day + dt.timedelta(days=i) for i in range(days)]
        per_place = max(24, round(40 * min(scale, 10)))
        self.addresses = find_addresses(seed, per_place)
        self.pools = {name: sorted(found) for name, found in self.addresses.items()}
        self.hits: list[tuple[dt.datetime, int, Hit]] = []
        self._sequence = 0
        self._make_people_and_content()

    # setup ---------------------------------------------------------------------------------

    def _pick_place(self) -> Place:
        return self.rng.choices(PLACES, weights=[p.weight for p in PLACES])[0]

    def _browser(self) -> tuple[str, str]:
        return self.rng.choices(BROWSERS, weights=BROWSER_WEIGHTS)[0]

    def _token(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _make_people_and_content(self) -> None:
        rng = self.rng
        self.people: list[_Person] = []
        users: list[User] = []
        for n in range(max(20, round(120 * self.scale))):
            place = self._pick_place()
            user_id = str(1001 + n)
            devices = tuple(self._browser() for _ in range(rng.choice((1, 1, 2))))
            addresses = tuple(rng.sample(self.pools[place.name], 2))
            self.people.append(
                _Person(
                    user_id, place.name, devices, addresses, min(0.7, rng.expovariate(1 / 0.18)), rng.random() < 0.1
                )
            )
            roll = rng.random()
            if roll < 0.15:
                continue  # not in users.csv: GeoIP decides their division
            home = None
            if roll < 0.75:
                home = _division_of(place, self.addresses)
                if rng.random() < 0.12:  # moved away, or registered elsewhere: home wins over GeoIP
                    home = rng.choice([d.division_id for d in DIVISIONS])
            users.append(User(user_id, home))
        self.users = tuple(users)

        content: list[Post] = []
        self.community_posts: dict[str, list[str]] = {}
        post_number = 100
        for community in COMMUNITIES:
            ids = []
            for _ in range(6):
                post_number += 1
                ids.append(str(post_number))
                content.append(Post(str(post_number), "community_post", rng.choice(self.people).user_id))
            self.community_posts[community.community_slug] = ids
        self.blog_posts, self.posts = [], []
        for kind, target, count in (("blog_post", self.blog_posts, 12), ("post", self.posts, 24)):
            for _ in range(count):
                post_number += 1
                target.append(str(post_number))
                content.append(Post(str(post_number), kind, rng.choice(self.people).user_id))
        self.content = tuple(content)
        self.owned: dict[str, list[tuple[str, str]]] = {}  # user -> [(post_id, path)]
        for post in content:
            self.owned.setdefault(post.owner_user_id, []).append((post.post_id, self._post_path(post.post_id)))

    def _post_path(self, post_id: str) -> str:
        for slug, ids in self.community_posts.items():
            if post_id in ids:
                return f"/communities/{slug}/posts/{post_id}"
        return f"/blog/{post_id}" if post_id in self.blog_posts else f"/posts/{post_id}"

    # hits ----------------------------------------------------------------------------------

    def _emit(self, ts: dt.datetime, ip: str, method: str, target: str, status: int, referrer: str | None,
              agent: str, user_id: str | None, session_id: str | None) -> None:  # fmt: skip
        rng = self.rng
        if status == 304 or method == "HEAD":
            size = 0
        elif target == "/healthz":
            size = 2
        elif status >= 400:
            size = rng.randint(150, 600)
        elif status in (301, 302):
            size = rng.randint(150, 170)
        else:
            size = rng.randint(2_000, 60_000)
        hit = Hit(ts, ip, method, target, status, size, referrer, agent, user_id, session_id)
        self._sequence += 1
        self.hits.append((ts, self._sequence, hit))

    def _page(self, slugs: tuple[str, ...]) -> str:
        """A page a human reads: mostly their communities, sometimes anything on the site."""
        rng = self.rng
        slug = rng.choice(slugs) if rng.random() < 0.75 else rng.choice(COMMUNITIES).community_slug
        roll = rng.random()
        if roll < 0.30:
            return rng.choice((f"/communities/{slug}", f"/communities/{slug}/", f"/communities/{slug}?tab=new"))
        if roll < 0.40:
            return rng.choice(
                (f"/communities/{slug}/events", f"/communities/{slug}/events/2026", f"/communities/{slug}/members")
            )  # noqa: E501
        if roll < 0.70:
            return f"/communities/{slug}/posts/{rng.choice(self.community_posts[slug])}"
        if roll < 0.80:
            return rng.choice((f"/blog/{rng.choice(self.blog_posts)}", f"/blog/{rng.choice(self.blog_posts)}/"))
        if roll < 0.90:
            return f"/posts/{rng.choice(self.posts)}"
        if roll < 0.95:
            return f"/users/u{rng.choice(self.people).user_id}"
        return rng.choice(("/", "/about", "/search?q=meetup"))

    def _session(self, start: dt.datetime, addresses: list[str], agent: str, session_id: str | None,
                 user_id: str | None, slugs: tuple[str, ...], pages: int, *, first_cookie: bool = True,
                 convert_to: str | None = None, owned: list[tuple[str, str]] = (), logout: bool = False,
                 ) -> dt.datetime:  # fmt: skip
        """One visit: page views with assets and the odd error; returns the time of its last hit.

        ``addresses``: the client address, or two when the client changes network halfway.
        ``convert_to``: an anonymous visit that signs in as this user after some pages.
        ``owned``: (post id, path) the visitor owns and may read (signed in or not).
        """
        rng = self.rng
        ts = start
        referrer = rng.choices([r for r, _ in ENTRY_REFERRERS], weights=[w for _, w in ENTRY_REFERRERS])[0]
        sign_in_after = rng.randint(1, max(1, pages - 1)) if convert_to else None
        logout_after = rng.randint(1, pages) if logout else None
        current_user = None if convert_to else user_id
        cached_assets = False
        for n in range(pages):
            ip = addresses[0] if n < pages // 2 or len(addresses) == 1 else addresses[1]
            cookie = session_id if (first_cookie or n > 0) else None
            if sign_in_after is not None and n == sign_in_after:
                self._emit(ts, ip, "GET", "/login", 200, f"https://{SITE}/", agent, None, cookie)
                if rng.random() < 0.2:  # a mistyped password first
                    ts += dt.timedelta(seconds=rng.randint(5, 30))
                    self._emit(ts, ip, "POST", "/login", 401, f"https://{SITE}/login", agent, None, cookie)
                ts += dt.timedelta(seconds=rng.randint(4, 60))
                # The application answers the successful POST with the user id header.
                self._emit(ts, ip, "POST", "/login", 302, f"https://{SITE}/login", agent, convert_to, cookie)
                current_user = convert_to
                ts += dt.timedelta(seconds=1)
            path = rng.choice(owned)[1] if owned and rng.random() < 0.35 else self._page(slugs)
            if n == 0:  # the landing page: a campaign link carries its UTM tags (no random draw)
                path = tag_landing(path, referrer)
            roll = rng.random()
            if roll < 0.02:
                self._emit(ts, ip, "GET", path.replace("/communities/", "/communties/"), 404, referrer, agent,
                           current_user, cookie)  # fmt: skip
            elif roll < 0.03:
                self._emit(ts, ip, "GET", path, 500, referrer, agent, current_user, cookie)
            elif roll < 0.05 and path.startswith("/communities/"):
                short = "/c/" + path.split("/")[2].split("?")[0]
                self._emit(ts, ip, "GET", short, 301, referrer, agent, current_user, cookie)
                ts += dt.timedelta(seconds=1)
                self._emit(ts, ip, "GET", path, 200, referrer, agent, current_user, cookie)
            else:
                status = 304 if rng.random() < 0.08 else 200
                self._emit(ts, ip, "GET", path, status, referrer, agent, current_user, cookie)
            page_url = f"https://{SITE}{path}"
            if not cached_assets or rng.random() < 0.1:
                for asset in rng.sample(ASSETS, rng.randint(1, 3)):
                    self._emit(ts, ip, "GET", asset, 304 if cached_assets else 200, page_url, agent, current_user,
                               cookie)  # fmt: skip
                cached_assets = True
            if current_user and rng.random() < 0.06 and "/posts/" in path:
                ts += dt.timedelta(seconds=rng.randint(20, 120))
                self._emit(ts, ip, "POST", path.split("?")[0] + "/comments", 302, page_url, agent, current_user,
                           cookie)  # fmt: skip
            if logout_after is not None and n == logout_after and current_user:
                ts += dt.timedelta(seconds=rng.randint(5, 60))
                self._emit(ts, ip, "POST", "/logout", 302, page_url, agent, current_user, cookie)
                current_user = None  # same cookie: the rest of the session still belongs to the user
            referrer = page_url
            ts += dt.timedelta(seconds=rng.randint(8, 240))
        return ts

    def _start_time(self, day: dt.date) -> dt.datetime:
        rng = self.rng
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        return dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), dt.UTC)

    def _day_factor(self, index: int, day: dt.date) -> float:
        """Traffic grows ~50 % over the range; weekends are quieter; some noise."""
        weekend = 0.75 if day.weekday() >= 5 else 1.0
        return (0.8 + 0.5 * index / max(1, len(self.days) - 1)) * weekend * self.rng.uniform(0.85, 1.15)

    def _anonymous_visit(self, day: dt.date, busy: set[str], start: dt.datetime | None = None,
                         place: Place | None = None, slugs: tuple[str, ...] | None = None,
                         pages: int | None = None) -> None:  # fmt: skip
        rng = self.rng
        place = place or self._pick_place()
        agent, device = self._browser()
        start = start or self._start_time(day)
        addresses = [rng.choice(self.pools[place.name])]
        if device == "mobile" and rng.random() < 0.08:  # wifi -> cellular, maybe in another place
            addresses.append(rng.choice(self.pools[self._pick_place().name]))
        pages = pages or rng.choice((1, 1, 1, 2, 2, 3, 4, 5, 6, 8))
        cookie = rng.random() < 0.75
        session_id = self._token() if cookie else None
        convert_to, owned = None, []
        if cookie and rng.random() < 0.12:
            candidates = [p for p in self.people if p.user_id not in busy]
            if candidates:
                person = rng.choice(candidates)
                busy.add(person.user_id)
                convert_to, pages = person.user_id, max(pages, 3)
                # Some sign in to manage their own post, having looked at it first.
                owned = self.owned.get(person.user_id, [])[:2]
        self._session(start, addresses, agent, session_id, None, slugs or place.communities, pages,
                      first_cookie=not (cookie and rng.random() < 0.06),  # the cookie is set by the first response
                      convert_to=convert_to, owned=owned)  # fmt: skip

    def _user_visits(self, day: dt.date, person: _Person) -> None:
        rng = self.rng
        ts = self._start_time(day)
        for _ in range(rng.choice((1, 1, 1, 2))):  # one user's sessions never overlap
            agent, _device = rng.choice(person.devices)
            if rng.random() < 0.1:  # travelling: an address elsewhere
                addresses = [rng.choice(self.pools[self._pick_place().name])]
            else:
                addresses = [rng.choice(person.addresses)]
            session_id = None if person.app_without_cookie else self._token()
            owned = self.owned.get(person.user_id, []) if rng.random() < 0.4 else []
            slugs = PLACES_BY_NAME[person.place].communities
            end = self._session(ts, addresses, agent, session_id, person.user_id, slugs, rng.randint(2, 9),
                                owned=owned, logout=session_id is not None and rng.random() < 0.05)  # fmt: skip
            ts = end + dt.timedelta(minutes=rng.randint(30, 300))

    def _machines(self, day: dt.date, factor: float) -> None:
        """Crawlers, the health probe, an uptime monitor and scanners."""
        rng = self.rng
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        probe = "10.0.0.10"
        for minute in range(0, 24 * 60, 30):
            self._emit(midnight + dt.timedelta(minutes=minute, seconds=7), probe, "GET", "/healthz", 200, None,
                       PROBE_AGENT, None, None)  # fmt: skip
        monitor = self.pools["dallas"][0]
        for hour in range(24):
            self._emit(midnight + dt.timedelta(hours=hour, seconds=31), monitor, "HEAD", "/", 200, None,
                       MONITOR_AGENT, None, None)  # fmt: skip
        crawler_pool = self.pools["seattle"] + self.pools["new_york"] + self.pools["germany"]
        for _ in range(round(45 * self.scale * factor)):
            ts = midnight + dt.timedelta(seconds=rng.randrange(86_400))
            path = rng.choice(("/robots.txt", "/sitemap.xml", self._page(("toronto", "montreal", "nyc"))))
            status = rng.choices((200, 304, 404, 301), weights=(85, 5, 6, 4))[0]
            self._emit(ts, rng.choice(crawler_pool), "GET", path, status, None, rng.choice(CRAWLERS), None, None)
        # Scanners pretend to be browsers: human hits (and anonymous sessions), never page views.
        for _ in range(rng.randint(1, 4)):
            ts = midnight + dt.timedelta(seconds=rng.randrange(86_400))
            ip = rng.choice(self.pools["france"] + self.pools["germany"] + self.pools[PRIVATE])
            agent = BROWSERS[0][0]
            for path in rng.sample(SCANNER_PATHS, 3):
                method = "POST" if path == "/xmlrpc.php" else "GET"
                self._emit(ts, ip, method, path, 405 if method == "POST" else 404, None, agent, None, None)
                ts += dt.timedelta(seconds=1)

    def _burst(self, start: dt.datetime, slug: str, visitors: int, busy: set[str]) -> None:
        """A live thread: many visitors within minutes (5-minute peaks, current visitors)."""
        rng = self.rng
        place = next(p for p in PLACES if slug in p.communities)
        for _ in range(visitors):
            begin = start + dt.timedelta(seconds=rng.randrange(600))
            if rng.random() < 0.3:
                person = rng.choice([p for p in self.people if p.user_id not in busy] or self.people)
                busy.add(person.user_id)
                self._session(begin, [rng.choice(person.addresses)], person.devices[0][0], self._token(),
                              person.user_id, (slug,), rng.randint(1, 4))  # fmt: skip
            else:
                self._anonymous_visit(begin.date(), busy, begin, place, (slug,), rng.randint(1, 4))

    def run(self) -> list[Hit]:
        """Every hit of the range, in time order (ties in generation order)."""
        rng = self.rng
        for index, day in enumerate(self.days):
            factor = self._day_factor(index, day)
            busy: set[str] = set()
            for person in self.people:
                if rng.random() < person.activity * factor:
                    busy.add(person.user_id)
                    self._user_visits(day, person)
            for _ in range(round(55 * self.scale * factor)):
                self._anonymous_visit(day, busy)
            self._machines(day, factor)
            if index == len(self.days) // 2:
                self._burst(dt.datetime.combine(day, dt.time(1, 0), dt.UTC), "nyc", round(25 * self.scale), busy)
            if day == self.end_day:  # the newest day ends with a live thread up to its last minutes
                self._burst(dt.datetime.combine(day, dt.time(23, 44), dt.UTC), "toronto", round(30 * self.scale), busy)
        end = dt.datetime.combine(self.end_day + dt.timedelta(days=1), dt.time(), dt.UTC)
        return [hit for ts, _, hit in sorted(self.hits, key=lambda t: (t[0], t[1])) if ts < end]


def _division_of(place: Place, addresses: dict[str, dict[str, Location]]) -> str | None:
    """The division the spec's GeoIP rule gives a place's first address (its people's home)."""
    location = next(iter(addresses[place.name].values()))
    return GroundTruth([], _dimensions((), ()), {}, frozenset(), {}).resolve(location)


def _dimensions(content: tuple[Post, ...], users: tuple[User, ...]) -> Dimensions:
    return Dimensions(DIVISIONS, COMMUNITIES, content, users, ROUTES)


# -- output -------------------------------------------------------------------------------------


def format_line(hit: Hit) -> str:
    """One line of :data:`LOG_FORMAT`; empty values as ``-`` as nginx logs them."""
    t = hit.ts
    time_local = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"
    return (
        f'{hit.ip} - - [{time_local}] "{hit.method} {hit.target} HTTP/1.1" {hit.status} {hit.bytes_sent} '
        f'"{hit.referrer or "-"}" "{hit.user_agent}" "{hit.user_id or "-"}" "{hit.session_id or "-"}"\n'
    )


def _csv(path: Path, header: tuple[str, ...], rows) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *([("" if v is None else v) for v in r] for r in rows)])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _routes_toml() -> str:
    lines = ["# Routes of the generated site (docs/analysts/communities.md, Routes): the first match wins.\n"]
    for route in ROUTES:
        lines.append(f'\n[[routes]]\npage_type = "{route.page_type}"\npattern = "{route.pattern}"\n')
    return "".join(lines)


def env_settings(out_dir: Path) -> dict[str, str]:
    """The footfall settings for generated files under ``out_dir`` (absolute paths)."""
    out_dir = out_dir.resolve()
    return {
        "FOOTFALL_LOG_GLOB": str(out_dir / "logs" / "access.log*"),
        "FOOTFALL_LOG_FORMAT": LOG_FORMAT,
        "FOOTFALL_USER_ID_FIELD": "upstream_http_x_user_id",
        "FOOTFALL_SESSION_FIELD": "cookie_sessionid",
        "FOOTFALL_ROUTES": str(out_dir / "routes.toml"),
        "FOOTFALL_DIMENSIONS_DIR": str(out_dir / "dimensions"),
        "FOOTFALL_TIMEZONE": "UTC",
        "FOOTFALL_SITE_HOSTS": SITE,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        # "2026-10-31 23:58:06" (naive UTC): the text demo/report.py shows for the warehouse's values.
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def summary(truth: GroundTruth, lines: int) -> dict[str, Any]:
    """The expected values ``make demo`` prints (``ground_truth.json``)."""
    newest = truth.newest_day()
    week = [newest - dt.timedelta(days=i) for i in range(6, -1, -1)]
    return _jsonable(
        {
            "lines": lines,
            "newest_day": newest,
            "community_daily_newest_day": [r for r in truth.community_daily() if r["day"] == newest],
            "visitor_stats_today": truth.visitor_stats_last(1)[0],
            "visitor_stats_7d": truth.visitor_stats_last(7)[0],
            "visitor_stats_30d": truth.visitor_stats_last(30)[0],
            "conversions_daily_last_7_days": [r for r in truth.conversions_daily() if r["day"] in week],
            "current_visitors": truth.current_visitors(),
            "growth_week": truth.growth("week"),
        }
    )


def generate(
    out_dir: Path, *, seed: int = 7, days: int = 45, end_day: dt.date = dt.date(2026, 10, 31), scale: float = 1.0
) -> GroundTruth:
    """Generate ``days`` days of traffic ending at ``end_day`` into ``out_dir``.

    Args:
        out_dir: created if missing; the files of the module docstring are (over)written.
        seed: the same seed (and other arguments) gives byte-identical files.
        days: number of UTC days, at least 2.
        end_day: the newest day (UTC).
        scale: multiplies visitors, users, crawler hits and addresses (1.0 is ~30,000 lines).

    Returns:
        The ground truth of the generated traffic.
    """
    simulation = _Simulation(seed, days, end_day, scale)
    hits = simulation.run()
    locations = {ip: loc for found in simulation.addresses.values() for ip, loc in found.items()}
    locations["10.0.0.10"] = Location(None, None, None)
    dimensions = _dimensions(simulation.content, simulation.users)
    truth = GroundTruth(hits, dimensions, locations, NON_HUMAN_AGENTS, dict(BROWSERS))

    out_dir = Path(out_dir)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    (out_dir / "dimensions").mkdir(parents=True, exist_ok=True)
    cut = dt.datetime.combine(end_day - dt.timedelta(days=ROTATED_DAYS - 1), dt.time(), dt.UTC)
    with (
        open(out_dir / "logs" / "access.log.1", "w", encoding="utf-8", newline="\n") as older,
        open(out_dir / "logs" / "access.log", "w", encoding="utf-8", newline="\n") as newer,
    ):
        for hit in hits:
            (older if hit.ts < cut else newer).write(format_line(hit))
    (out_dir / "routes.toml").write_text(_routes_toml(), encoding="utf-8")
    dims = out_dir / "dimensions"
    _csv(
        dims / "divisions.csv",
        ("division_id", "name", "type", "parent_id", "iso_country", "iso_subdivision", "city_names"),
        [(d.division_id, d.name, d.type, d.parent_id, d.iso_country, d.iso_subdivision, "|".join(d.city_names))
         for d in DIVISIONS],
    )  # fmt: skip
    _csv(
        dims / "communities.csv",
        ("community_slug", "community_id", "division_id"),
        [(c.community_slug, c.community_id, c.division_id) for c in COMMUNITIES],
    )
    _csv(
        dims / "content.csv",
        ("post_id", "kind", "owner_user_id"),
        [(p.post_id, p.kind, p.owner_user_id) for p in simulation.content],
    )
    _csv(
        dims / "users.csv", ("user_id", "home_division_id"), [(u.user_id, u.home_division_id) for u in simulation.users]
    )
    settings = env_settings(out_dir)
    (out_dir / "footfall.env").write_text(
        f"# footfall settings for traffic generated by demo.traffic (seed {seed}, {days} days to {end_day}, "
        f"scale {scale}).\n# Load with: set -a; . {shlex.quote(str(out_dir.resolve() / 'footfall.env'))}; set +a\n"
        + "".join(f"{key}={shlex.quote(value)}\n" for key, value in settings.items()),
        encoding="utf-8",
    )
    (out_dir / "ground_truth.json").write_text(
        json.dumps(summary(truth, len(hits)), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.traffic", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--end-day", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    truth = generate(args.out_dir, seed=args.seed, days=args.days, end_day=args.end_day, scale=args.scale)
    print(
        f"wrote {len(truth.human_hits):,} human hits of {sum(1 for _ in _log_lines(args.out_dir)):,} lines, "
        f"{len(truth.page_views):,} page views, days {truth.days()[0]}..{truth.newest_day()} to {args.out_dir}"
    )
    return 0


def _log_lines(out_dir: Path):
    for name in ("access.log.1", "access.log"):
        with open(out_dir / "logs" / name, encoding="utf-8") as f:
            yield from f


if __name__ == "__main__":
    sys.exit(main())
