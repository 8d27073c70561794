"""The real client address behind trusted reverse proxies, from ``$http_x_forwarded_for``.

Same rule as nginx's realip module with ``real_ip_header X-Forwarded-For`` and
``real_ip_recursive on`` (http://nginx.org/en/docs/http/ngx_http_realip_module.html;
``ngx_http_get_forwarded_addr_internal`` in src/http/ngx_http_core_module.c):

* a request whose ``$remote_addr`` is not a trusted proxy keeps ``$remote_addr``
  (whatever it claims in X-Forwarded-For: only a trusted proxy's header is believed);
* otherwise the header is read from the right, an entry at a time (separated by commas
  and/or spaces): the first entry that is not a trusted proxy is the client; when every
  entry is trusted, the left-most one is;
* an entry that is not an address (``unknown``, a host name, garbage) stops the walk, and
  the last address reached (a trusted proxy, or ``$remote_addr``) is the client: whatever is
  left of it was written by someone no trusted proxy vouches for.

Entries may carry a port (``203.0.113.7:51234``, ``[2001:db8::7]:443``) or brackets
(``[2001:db8::7]``); the client address returned for them is the bare address in Python's
canonical form (lower-case, compressed IPv6). IPv4-mapped IPv6 addresses match IPv4
networks, as in nginx.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import polars as pl

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_ENV = "FOOTFALL_TRUSTED_PROXIES"


def parse_cidrs(text: str) -> tuple[Network, ...]:
    """Parse trusted proxy networks: CIDRs or single addresses, separated by commas or spaces.

    ``"10.0.0.0/8, 192.168.1.7 2001:db8::/32"`` -> three networks; ``""`` -> ``()``. Host bits
    set below the prefix (``10.1.2.3/8``) are ignored, as nginx does with a warning.

    Raises:
        ValueError: an entry is not an address or CIDR; the message names FOOTFALL_TRUSTED_PROXIES.
    """
    networks = []
    for entry in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{_ENV}: {entry!r} is not an IP address or CIDR network "
                "(expected e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32, separated by commas)"
            ) from None
    return tuple(networks)


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str | Network, ...]) -> tuple[tuple[Network, ...], tuple[Network, ...]]:
    """(IPv4 networks, IPv6 networks) from strings or network objects."""
    nets: list[Network] = []
    for t in trusted:
        nets.extend(parse_cidrs(t) if isinstance(t, str) else (t,))
    return tuple(n for n in nets if n.version == 4), tuple(n for n in nets if n.version == 6)


def _address(entry: str) -> Address | None:
    """One X-Forwarded-For entry as an address (brackets and port removed), or None."""
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0 or (end + 1 < len(entry) and not entry[end + 1 :].startswith(":")):
            return None
        entry = entry[1:end]
    elif entry.count(":") == 1:
        entry = entry.split(":", 1)[0]  # IPv4 with a port
    try:
        ip = ipaddress.ip_address(entry)
    except ValueError:
        return None
    return ip


def _trusted(ip: Address, v4: tuple[Network, ...], v6: tuple[Network, ...]) -> bool:
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in n for n in (v4 if ip.version == 4 else v6))


class _Entries:
    """Each distinct address text parsed and checked against the trusted networks once:
    the same proxies and clients recur across many (remote_addr, X-Forwarded-For) pairs."""

    def __init__(self, v4: tuple[Network, ...], v6: tuple[Network, ...]) -> None:
        self.v4, self.v6 = v4, v6
        self.memo: dict[str, tuple[str | None, bool]] = {}

    def __call__(self, entry: str) -> tuple[str | None, bool]:
        """(the address in canonical form or None if it is not one, trusted)."""
        found = self.memo.get(entry)
        if found is None:
            ip = _address(entry)
            found = self.memo[entry] = (None, False) if ip is None else (str(ip), _trusted(ip, self.v4, self.v6))
        return found


def _real_client(remote_addr: str, forwarded_for: str, entries: _Entries) -> str:
    """The client address for one (``$remote_addr``, ``$http_x_forwarded_for``) pair."""
    address, trusted = entries(remote_addr.strip())
    if address is None or not trusted:
        return remote_addr
    client = remote_addr
    for entry in reversed(forwarded_for.replace(",", " ").split()):
        address, trusted = entries(entry)
        if address is None:
            break
        client = address
        if not trusted:
            break
    return client


def client_addresses(frame: pl.DataFrame, trusted_proxies: tuple[str | Network, ...]) -> pl.Series:
    """The client address of each row.

    Args:
        frame: columns ``remote_addr`` and ``x_forwarded_for`` (String, nulls allowed; a
            missing ``x_forwarded_for`` column counts as all null).
        trusted_proxies: CIDRs or addresses (strings, as in FOOTFALL_TRUSTED_PROXIES, or
            ``ipaddress`` networks); empty means no proxy is trusted.

    Returns:
        String Series ``remote_addr``, one value per row, in row order. Python runs once per
        distinct (remote_addr, x_forwarded_for) pair whose header is present, and parses each
        distinct address text once.

    Raises:
        ValueError: a trusted proxy entry is not a CIDR or address (names FOOTFALL_TRUSTED_PROXIES).
    """
    remote = frame.get_column("remote_addr").cast(pl.String)
    if not trusted_proxies or "x_forwarded_for" not in frame.columns:
        return remote.rename("remote_addr")
    v4, v6 = _networks(tuple(trusted_proxies))
    pairs = frame.select(pl.col("remote_addr").cast(pl.String), pl.col("x_forwarded_for").cast(pl.String))
    present = pl.col("x_forwarded_for").is_not_null() & (pl.col("x_forwarded_for") != "")
    candidates = pairs.filter(present & pl.col("remote_addr").is_not_null()).unique()
    if not candidates.height:
        return remote.rename("remote_addr")
    entries = _Entries(v4, v6)
    clients = [_real_client(r, x, entries) for r, x in candidates.iter_rows()]
    resolved = candidates.with_columns(pl.Series("_client", clients, dtype=pl.String))
    joined = pairs.join(resolved, on=["remote_addr", "x_forwarded_for"], how="left", maintain_order="left")
    return joined.select(pl.coalesce("_client", "remote_addr").alias("remote_addr")).to_series()
