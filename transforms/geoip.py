"""GeoIP: client address -> country, subdivision and city, once per distinct address.

The database is a MaxMind DB (``.mmdb``) City file: by default the GeoLite2 City database
shipped by the ``maxminddb-geolite2`` package (July 2018, the only one available offline),
or the file ``GEOIP_DATABASE`` names. It is opened once per process and read through
``maxminddb``'s C extension (memory-mapped), the reader under ``geoip2``: its raw ``get()``
skips building geoip2's model objects (about half the cost per lookup, measured with
bench/enrichment_bench.py) and gives the same values as ``geoip2.database.Reader.city()``
(the tests compare them on real addresses).

Addresses that cannot be located are null: private, loopback, link-local, multicast,
reserved, unspecified and shared (CGNAT) addresses are never looked up (``ipaddress``
decides), and neither are strings that are not an address. The caller discards the
address after the lookup; only the in-process cache holds it, in memory.
"""

from __future__ import annotations

import ipaddress
import threading
from functools import cache, lru_cache
from pathlib import Path

import maxminddb
import polars as pl

GEO_SCHEMA: dict[str, pl.DataType] = {
    "remote_addr": pl.String(),
    "country_code": pl.String(),
    "subdivision_code": pl.String(),
    "city": pl.String(),
}

_ENV = "GEOIP_DATABASE"
# The in-process cache is dropped when it grows past this many addresses: ~200 bytes each
# (address text and the three fields), so at most ~40 MiB.
MAX_CACHED = 200_000
_UNKNOWN = (None, None, None)


class GeoIPConfigError(ValueError):
    """The GeoIP database is missing, unreadable or not a City database; says what to fix."""


def default_database_path() -> Path:
    """The GeoLite2 City file shipped by the ``maxminddb-geolite2`` package."""
    from _maxminddb_geolite2 import geolite2_database

    return Path(geolite2_database())


@cache
def _open(path: Path) -> maxminddb.Reader:
    """One reader per database file and process (thread-safe for lookups)."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except FileNotFoundError:
        raise GeoIPConfigError(
            f"{_ENV}={str(path)!r}: no such file; point it at a GeoLite2-City.mmdb or GeoIP2-City.mmdb file, "
            "or unset it to use the bundled GeoLite2 City database"
        ) from None
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise GeoIPConfigError(
            f"{_ENV}={str(path)!r} cannot be read as a MaxMind DB (.mmdb) file: {exc}; "
            "point it at a GeoLite2-City.mmdb or GeoIP2-City.mmdb file"
        ) from None
    kind = reader.metadata().database_type
    if "City" not in kind:
        reader.close()
        raise GeoIPConfigError(
            f"{_ENV}={str(path)!r} is a {kind} database; footfall needs a City database (GeoLite2-City or GeoIP2-City)"
        )
    return reader


def _record_fields(record: dict | None) -> tuple[str | None, str | None, str | None]:
    """(country ISO code, ISO 3166-2 code of the largest subdivision, English city name)."""
    if not record:
        return _UNKNOWN
    country = (record.get("country") or {}).get("iso_code")
    subdivisions = record.get("subdivisions") or ()
    sub = subdivisions[0].get("iso_code") if subdivisions else None
    city = ((record.get("city") or {}).get("names") or {}).get("en")
    return country, f"{country}-{sub}" if country and sub else None, city


def _locatable(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address to look up, or None for non-addresses and addresses with no location."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # "::ffff:203.0.113.9" from a dual-stack socket
    # is_global is False for private, loopback, link-local, reserved, unspecified, shared
    # (100.64.0.0/10) and documentation ranges; multicast can be "global" but has no location.
    if not ip.is_global or ip.is_multicast:
        return None
    return ip


def shared_geoip(database: Path | None = None) -> GeoIP:
    """The process's :class:`GeoIP` for ``database`` (``None``: the bundled GeoLite2 City).

    Work units parsed in one process, one after the other or on parse threads, share its
    memory of addresses already located, as they share the database reader; a unit of a log
    mostly sees the addresses the previous unit saw.

    Raises:
        GeoIPConfigError: as :class:`GeoIP` (not remembered: a fixed file is found next time).
    """
    path = Path(database).expanduser().resolve() if database is not None else default_database_path().resolve()
    return _shared_geoip(path)


@lru_cache(maxsize=4)
def _shared_geoip(path: Path) -> GeoIP:
    return GeoIP(path)


class GeoIP:
    """Looks up distinct client addresses, remembering each for the life of the object.

    Thread-safe. Parse tasks use one per process and database (:func:`shared_geoip`).

    Args:
        database: path of a MaxMind City ``.mmdb`` (``GEOIP_DATABASE``); ``None`` means
            :func:`default_database_path`.

    Raises:
        GeoIPConfigError: the file is missing, unreadable, not a MaxMind DB or not a City
            database; the message names GEOIP_DATABASE and the path.
    """

    def __init__(self, database: Path | None = None) -> None:
        self.database = Path(database).expanduser() if database is not None else default_database_path()
        self._reader = _open(self.database.resolve())
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str | None, str | None, str | None]] = {}

    def lookup(self, addresses: pl.Series) -> pl.DataFrame:
        """Locate addresses.

        Args:
            addresses: distinct client addresses as logged (String, IPv4 or IPv6; nulls allowed).

        Returns:
            One row per input value, in input order, columns of :data:`GEO_SCHEMA`:
            ``remote_addr`` (the input), ``country_code`` (ISO 3166-1 alpha-2, e.g. ``US``),
            ``subdivision_code`` (ISO 3166-2 of the largest subdivision, e.g. ``US-CA``) and
            ``city`` (English name). Null where unknown, and for private, reserved and
            invalid addresses.
        """
        values = addresses.cast(pl.String).to_list()
        out_country, out_sub, out_city = [], [], []
        cache, get = self._cache, self._reader.get
        fresh = {}
        for value in values:
            fields = cache.get(value) if value is not None else _UNKNOWN
            if fields is None:
                fields = fresh.get(value)
                if fields is None:
                    ip = _locatable(value)
                    fields = fresh[value] = _record_fields(get(ip)) if ip is not None else _UNKNOWN
            country, sub, city = fields
            out_country.append(country)
            out_sub.append(sub)
            out_city.append(city)
        if fresh:
            with self._lock:
                if len(cache) + len(fresh) > MAX_CACHED:
                    cache.clear()
                cache.update(fresh)
        return pl.DataFrame(
            {"remote_addr": values, "country_code": out_country, "subdivision_code": out_sub, "city": out_city},
            schema=GEO_SCHEMA,
        )
