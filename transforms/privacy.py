"""Keyed hashing of visitor data: the mechanics of footfall's privacy model.

* ``client_ip_hash``: BLAKE2b keyed with the deployment's hash key, over the client address.
  Stable across days, for abuse analysis; useless without the key.
* ``visitor_id``: BLAKE2b keyed with a random salt of the event's day in FOOTFALL_TIMEZONE, over
  site + client address + user agent (Plausible's model). A new salt each day means a
  visitor cannot be linked across days. Salts live in the secrets dir, outside the data dir;
  once a day's salt is deleted, no id of that day can be recomputed, even by brute force over
  the IPv4 space.
* ``user_agent_id`` and ``user_hash``: the full user agent and the signed-in user's id
  (FOOTFALL_USER_ID_FIELD, ``$remote_user`` by default), keyed with the hash key, so
  distinct values can be counted, and a user followed across days, without storing them.
* ``session_hash``: the session id (FOOTFALL_SESSION_FIELD), keyed with the day's salt like
  ``visitor_id``: a session cookie cannot be linked across days or recovered.

All hashes are the first 8 bytes of the digest as a signed 64-bit integer. Hashing runs in
Python once per *distinct* value of a chunk (a row of a dimension of coded events, or a
distinct combination of a day and codes), never per event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import polars as pl

from parsers.coded import CodedEvents, code_column, factorize
from transforms.secret_files import create_secret_file

_DIGEST = 8


def _to_int64(digest: bytes) -> int:
    return int.from_bytes(digest, "little", signed=True)


def keyed_hash(key: bytes, *parts: str | None) -> int:
    """BLAKE2b-64 of ``parts`` joined by NUL bytes, keyed with ``key`` (1..64 bytes)."""
    data = b"\0".join((p or "").encode("utf-8", "surrogateescape") for p in parts)
    return _to_int64(hashlib.blake2b(data, key=key, digest_size=_DIGEST).digest())


class KeyStore:
    """Where the hash key and the daily salts come from.

    Args:
        secrets_dir: directory for the generated development key and the daily salts;
            outside the data dir, never committed.
        hash_key: the configured secret (``FOOTFALL_HASH_KEY`` or Airflow Variable); when
            ``None`` a random key is generated once in ``secrets_dir/hash.key``.
    """

    def __init__(self, secrets_dir: Path, hash_key: str | None = None) -> None:
        self.secrets_dir = Path(secrets_dir)
        self._configured = hash_key
        self._used_salts: dict[dt.date, bytes] = {}

    def hash_key(self) -> bytes:
        """The 32-byte key for ``client_ip_hash``, ``user_agent_id`` and ``user_hash``."""
        if self._configured:
            return hashlib.sha256(self._configured.encode("utf-8")).digest()
        return create_secret_file(self.secrets_dir / "hash.key", 32)

    def daily_salt(self, day: dt.date) -> bytes:
        """The random 32-byte salt for visitor ids of ``day`` (a date in FOOTFALL_TIMEZONE),
        created on first use."""
        salt = create_secret_file(self.salts_dir / f"{day.isoformat()}.salt", 32)
        self._used_salts[day] = salt
        return salt

    def salt_fingerprints(self, days: Iterable[dt.date] | None = None) -> dict[str, str]:
        """A keyed hash of the salt of each day, to compare what two hosts used without
        revealing a salt: ISO date -> 16 hex digits, keyed with the hash key (so hosts with
        different hash keys differ too).

        Args:
            days: the days to fingerprint, from the salts already in the secrets dir (a day
                without one is left out: nothing is created). ``None``: the days whose salts
                :meth:`daily_salt` handed out through this store.
        """
        if days is None:
            salts = dict(self._used_salts)
        else:
            paths = {day: self.salts_dir / f"{day.isoformat()}.salt" for day in days}
            salts = {day: path.read_bytes() for day, path in paths.items() if path.exists()}
        key = self.hash_key()
        return {
            day.isoformat(): (keyed_hash(key, "daily salt", salt.hex()) & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8).hex()
            for day, salt in sorted(salts.items())
        }

    @property
    def salts_dir(self) -> Path:
        return self.secrets_dir / "salts"

    def purge_salts(self, now: dt.datetime, max_age: dt.timedelta = dt.timedelta(hours=48)) -> list[str]:
        """Delete salts created more than ``max_age`` before ``now`` (an aware datetime).

        Once a salt is gone, the visitor ids of its day can no longer be recomputed: events
        of that day ingested later get a new salt, so their visitors are not linked to the
        ones already counted (docs/operators/privacy.md).

        Returns:
            The days (ISO dates) whose salts were deleted, sorted.
        """
        if not self.salts_dir.exists():
            return []
        cutoff = (now - max_age).timestamp()
        deleted = []
        for salt in self.salts_dir.glob("*.salt"):
            # A salt file is written once and never modified: its mtime is its creation time.
            if salt.stat().st_mtime < cutoff:
                salt.unlink(missing_ok=True)
                deleted.append(salt.stem)
        return sorted(deleted)


def _encoded(values: pl.Series) -> list[bytes | None]:
    """The UTF-8 bytes of each value (None for null): what :func:`keyed_hash` hashes."""
    # polars strings are valid UTF-8, so this is the same as str.encode("utf-8", "surrogateescape").
    return values.cast(pl.String).cast(pl.Binary).to_list()


def _digests(key: bytes, data: Iterable[bytes]) -> np.ndarray:
    """:func:`keyed_hash` of each element of ``data``: the parts already encoded and joined
    by NUL bytes. Int64, one per element, in order."""
    base = hashlib.blake2b(key=key, digest_size=_DIGEST)
    out = []
    for item in data:
        h = base.copy()
        h.update(item)
        out.append(h.digest())
    # Each digest read as a little-endian signed 64-bit integer, as _to_int64 does.
    return np.frombuffer(b"".join(out), dtype="<i8").astype(np.int64, copy=False)


def keyed_hashes(values: pl.Series, key: bytes, label: str, keep: pl.Series | None = None) -> pl.Series:
    """``keyed_hash(key, label, value)`` per value (Int64); null where the value is null or
    ``keep`` (Boolean, same length) is False. Python runs once per value: pass distinct values."""
    encoded = _encoded(values)
    if keep is not None:
        encoded = [v if k else None for v, k in zip(encoded, keep.fill_null(False).to_list(), strict=True)]
    valid = np.array([v is not None for v in encoded], dtype=bool)
    prefix = label.encode("utf-8", "surrogateescape") + b"\0"
    out = np.zeros(len(encoded), dtype=np.int64)
    out[valid] = _digests(key, [prefix + v for v in encoded if v is not None])
    return pl.Series(out).set(pl.Series(~valid), None)


def client_ip_hashes(addresses: pl.Series, hash_key: bytes) -> pl.Series:
    """``client_ip_hash`` of each client address (Int64): keyed with the hash key over
    ``"ip", address``; null where the address is null or empty."""
    return keyed_hashes(addresses, hash_key, "ip", keep=addresses != "")


# The domain label of user_hash: shared by the events and the dimension files, so a user id
# hashes to the same value in both and the owner of a post can be matched to its viewers.
_USER = "user"


def hash_user_ids(user_ids: pl.Series, hash_key: bytes) -> pl.Series:
    """``user_hash`` of each user id (Int64, null for null), exactly as :func:`pseudonymise`
    computes it for events: BLAKE2b-64 keyed with the hash key over ``"user", id``.

    For user ids outside the logs (``transforms.models.dimensions``: ``users.user_id``,
    ``content.owner_user_id``); Python runs once per distinct id.
    """
    distinct = user_ids.drop_nulls().unique()
    return user_ids.replace_strict(
        distinct, keyed_hashes(distinct, hash_key, _USER), default=None, return_dtype=pl.Int64
    )


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def identify_user_agents(events: CodedEvents, keys: KeyStore) -> CodedEvents:
    """The first step of pseudonymisation, before enrichment: ``user_agent_id``, the keyed id of
    each distinct user agent (Int64, keyed with the hash key over ``"ua", user agent``), added to
    the ``user_agent`` dimension. The enricher's cross-run classification cache is keyed by it,
    so enrichment needs no key; :func:`pseudonymise` keeps it."""
    agents = events.dims["user_agent"]
    ids = keyed_hashes(agents.get_column("user_agent"), keys.hash_key(), "ua").alias("user_agent_id")
    return events.with_dim("user_agent", agents.with_columns(ids))


def pseudonymise(
    events: CodedEvents, keys: KeyStore, site: str, timezone: str = "UTC", *, redact_user_agent: bool = False
) -> CodedEvents:
    """Replace the raw client address, user id and session id with keyed hashes.

    Args:
        events: coded events (:mod:`parsers.coded`) with per-row ``ts`` and the dimensions
            ``client`` (``remote_addr``: the client address, ``x_forwarded_for``),
            ``user_agent``, ``user_id`` and ``session_id`` (see
            ``parsers.access_log.PARSED_SCHEMA``).
        keys: where the key and the daily salts come from.
        site: site name mixed into the visitor id.
        timezone: IANA name; visitor ids change at midnight in this zone (the reporting day).
        redact_user_agent: replace every address in the stored user agent with ``<address>``
            (FOOTFALL_REDACT_REQUEST_ADDRESSES), after the hashes and before the cut, so that
            ids and classification see the user agent as sent and no cut leaves part of one.

    Returns:
        The events without ``remote_addr``, ``x_forwarded_for``, ``user_id`` and the
        ``session_id`` dimension; with Int64 ``client_ip_hash`` (in ``client``; null where the
        address is null or empty), ``user_hash`` (in ``user_id``), ``user_agent_id`` (in
        ``user_agent``, unless :func:`identify_user_agents` added it), per-row ``visitor_id``
        and ``session_hash`` (null without a session id), and ``user_agent`` cut to 100
        characters. The address hashed is the client's as enrichment resolved it behind
        trusted proxies.
    """
    key = keys.hash_key()
    site_bytes = site.encode("utf-8", "surrogateescape")

    # Each hash runs in Python once per distinct value it depends on: an address, a user
    # agent, a user (one row of their dimension each), a (day, address, user agent) triple and
    # a (day, session) pair (factorized from the rows' day and codes).
    client = events.dims["client"]
    addresses = client.get_column("remote_addr")
    client = client.with_columns(client_ip_hashes(addresses, key).alias("client_ip_hash"))
    users = events.dims["user_id"]
    users = users.with_columns(keyed_hashes(users.get_column("user_id"), key, _USER).alias("user_hash"))
    agents = events.dims["user_agent"]
    if "user_agent_id" not in agents.columns:
        agents = agents.with_columns(keyed_hashes(agents.get_column("user_agent"), key, "ua").alias("user_agent_id"))
    rows = events.rows
    day = rows.get_column("ts").dt.convert_time_zone(timezone).dt.date().to_physical()
    first = day.min() if len(day) else 0
    day_index = (day - first).cast(pl.UInt32).rename("day")
    days = int(day_index.max()) + 1 if len(day_index) else 1

    salts: dict[int, bytes] = {}

    def salted(columns: list[pl.Series], sizes: list[int], data: Callable[[pl.DataFrame], list[bytes | None]]):
        """Codes per row, and per distinct (day, *columns) combination the hash of its
        ``data`` (encoded parts joined by NUL; None -> null) keyed with the day's salt."""
        codes, combos = factorize([day_index, *columns], [days, *sizes])
        items = data(combos)
        combo_days = combos.get_column("day").to_numpy()
        out = np.zeros(len(items), dtype=np.int64)
        valid = np.array([item is not None for item in items], dtype=bool)
        for d in np.unique(combo_days).tolist():
            # Only days with events get a salt (daily_salt creates it on first use).
            if d not in salts:
                salts[d] = keys.daily_salt(dt.date.fromordinal(_EPOCH_ORDINAL + first + d))
            salt = salts[d]
            take = np.flatnonzero((combo_days == d) & valid)
            out[take] = _digests(salt, [items[i] for i in take.tolist()])
        return codes, pl.Series(out).set(pl.Series(~valid), None)

    # The visitor triple: the client dimension is already one row per (address, header) pair.
    client_parts = [site_bytes + b"\0" + (a or b"") + b"\0" for a in _encoded(addresses)]
    agent_parts = [a or b"" for a in _encoded(agents.get_column("user_agent"))]
    codes, visitor = salted(
        [events.codes("client").rename("client"), events.codes("user_agent").rename("ua")],
        [client.height, agents.height],
        lambda combos: [
            client_parts[c] + agent_parts[u]
            for c, u in zip(combos.get_column("client").to_list(), combos.get_column("ua").to_list(), strict=True)
        ],
    )
    # The "session" label keeps a session id from colliding with an (address, agent) pair.
    session_prefix = b"session\0" + site_bytes + b"\0"
    session_parts = [
        None if v is None else session_prefix + v for v in _encoded(events.dims["session_id"].get_column("session_id"))
    ]
    session_codes, session = salted(
        [events.codes("session_id").rename("session")],
        [len(session_parts)],
        lambda combos: [session_parts[s] for s in combos.get_column("session").to_list()],
    )
    rows = rows.with_columns(
        visitor.gather(codes).alias("visitor_id"), session.gather(session_codes).alias("session_hash")
    ).drop(code_column("session_id"))
    dims = {name: frame for name, frame in events.dims.items() if name != "session_id"}
    dims["client"] = client.drop("remote_addr", "x_forwarded_for")
    dims["user_id"] = users.drop("user_id")
    stored = redact_addresses(pl.col("user_agent")) if redact_user_agent else pl.col("user_agent")
    dims["user_agent"] = agents.with_columns(stored.str.slice(0, 100))
    return CodedEvents(rows, dims)


# IPv4, and IPv6 in full or "::"-compressed form (optionally with an embedded IPv4 tail). A bare
# "::" with no hex digit next to it (the unspecified address, no one's) is not matched: it is how
# Perl names are written, and crawlers send them ("LWP::Simple/6.15" in their user agents).
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (
    rf"(?:{_H}:){{7}}{_H}"
    rf"|(?:{_H}:){{1,6}}:?(?:{_H}:){{0,5}}{_IPV4}"
    rf"|::(?:{_H}:){{0,5}}{_IPV4}"
    rf"|(?:{_H}:){{1,7}}:(?:{_H}(?::{_H}){{0,6}})?"
    rf"|::{_H}(?::{_H}){{0,6}}"
)
ADDRESS_PATTERN = rf"{_IPV6}|{_IPV4}"
REDACTED = "<address>"


def redact_param_values(text: pl.Expr, names: tuple[str, ...]) -> pl.Expr:
    """Replace the values of query parameters ``names`` anywhere in ``text`` by ``<removed>``.

    For lines that did not parse (quarantine), where no URL can be isolated: any
    ``name=value`` after ``?``, ``&`` or ``;`` (``token[]=``, ``token%5B%5D=`` too) loses
    its value, up to the next ``&``, ``;``, ``#``, quote or white space.
    """
    if not names:
        return text
    alt = "(?i:" + "|".join(re.escape(n) for n in names) + ")"
    return text.str.replace_all(rf"([?&;]{alt}(?:\[[^=&\s\"]*\]|%5[Bb][^=&\s\"]*)?=)[^&;#\s\"]*", "${1}<removed>")


def redact_addresses(text: pl.Expr) -> pl.Expr:
    """Replace every IPv4/IPv6-looking substring with ``<address>`` (for quarantined lines)."""
    return text.str.replace_all(ADDRESS_PATTERN, REDACTED)
