"""An independent reading of combined-format logs, for checking footfall's numbers.

Deliberately written differently from the product (Python ``re`` per line, plain dicts),
from the definitions in docs/analysts/metrics.md, so a bug in footfall's parser, SQL or page-view
rule shows up as a disagreement instead of being copied into the expected values.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(
    r'^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"?$'
)
_STATIC_EXT = {
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "bmp", "tif", "tiff",
    "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "webm", "ogg", "wav", "avi", "mpg", "mpeg", "flv", "zip",
    "gz", "tgz", "tar", "rar", "7z", "iso", "exe", "dmg", "pdf", "txt", "csv", "xml", "json",
}  # fmt: skip


@dataclass(frozen=True)
class Hit:
    ip: str
    ts: dt.datetime  # UTC
    method: str | None
    path: str | None
    status: int
    bytes: int
    user_agent: str


def read_hits(path: Path) -> list[Hit]:
    """Every line of a combined-format log as a :class:`Hit` (lines that do not match are skipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    hits = []
    with opener(path, "rt", encoding="utf-8", errors="backslashreplace") as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if not m:
                continue
            ts = dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").astimezone(dt.UTC)
            parts = m["request"].split(" ")
            method = parts[0] if len(parts) >= 2 else None
            target = parts[1] if len(parts) >= 2 else None
            hits.append(
                Hit(
                    ip=m["ip"],
                    ts=ts,
                    method=method,
                    path=target.split("?", 1)[0] if target else None,
                    status=int(m["status"]),
                    bytes=0 if m["bytes"] == "-" else int(m["bytes"]),
                    user_agent=m["ua"].replace('\\"', '"'),
                )
            )
    return hits


_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def stored_user_agent(user_agent: str) -> str:
    """docs/operators/privacy.md: what is stored of a user agent, its first 100 characters after every
    address in it became ``<address>``. The address-shaped text in these logs' user agents is
    dotted quads only (version numbers such as ``APT-HTTP/1.3 (0.9.7.9)``), so that is what
    this replaces, leftmost and longest first."""
    return _DOTTED_QUAD.sub("<address>", user_agent)[:100]


def is_page_view(hit: Hit) -> bool:
    """docs/analysts/metrics.md: a GET answered 2xx or 304, not a static asset, not a health check."""
    if hit.method != "GET" or not (200 <= hit.status <= 299 or hit.status == 304) or not hit.path:
        return False
    if hit.path.startswith("/static/") or hit.path in ("/health", "/healthz") or hit.path.startswith("/health/"):
        return False
    last = hit.path.rsplit("/", 1)[-1]
    return not ("." in last and last.rsplit(".", 1)[1].lower() in _STATIC_EXT)


def country(address: str) -> str:
    """Country of an address by geoip2's own Reader.city() on the bundled GeoLite2 City
    database (footfall itself reads it through maxminddb); Unknown when not located."""
    import geoip2.database
    import geoip2.errors
    from geolite2 import geolite2_database

    global _READER
    if _READER is None:
        _READER = geoip2.database.Reader(geolite2_database())
    try:
        code = _READER.city(address).country.iso_code
    except (geoip2.errors.AddressNotFoundError, ValueError):
        code = None
    return code or "Unknown"


_READER = None


def daily(hits: list[Hit]) -> dict[dt.date, dict[str, int]]:
    """hits, page views, visitors (distinct ip + user agent among page views), bytes per UTC day."""
    out: dict[dt.date, dict] = collections.defaultdict(lambda: {"hits": 0, "page_views": 0, "v": set(), "bytes": 0})
    for h in hits:
        d = out[h.ts.date()]
        d["hits"] += 1
        d["bytes"] += h.bytes
        if is_page_view(h):
            d["page_views"] += 1
            d["v"].add((h.ip, h.user_agent))
    return {
        day: {"hits": d["hits"], "page_views": d["page_views"], "visitors": len(d["v"]), "bytes": d["bytes"]}
        for day, d in out.items()
    }
