"""Enrich parsed events before they are pseudonymised and stored.

Per chunk, on the dimensions of coded events (:mod:`parsers.coded`), so every lookup runs
once per distinct value:

* the client address behind trusted proxies (``$http_x_forwarded_for``);
* GeoIP country, subdivision and city of that address (the address itself is discarded
  later by :func:`transforms.privacy.pseudonymise`);
* user agent -> browser, OS, device type and crawler flag, cached across runs by its keyed
  ``user_agent_id`` (no user-agent text is kept in the cache), which the pseudonymisation
  computed before (:func:`transforms.privacy.identify_user_agents`);
* referrer -> domain and source class; UTM tags from the query string;
* sensitive query parameters removed from the stored query and referrer;
* addresses inside the request, the referrer and the host replaced by ``<address>``
  (:mod:`transforms.redaction`), after the values above were computed from them.

Enrichment computes no keyed hash and holds no key: :mod:`transforms.privacy` owns them all.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from pathlib import Path

import polars as pl

from parsers.coded import CodedEvents
from transforms.client_address import client_addresses
from transforms.distinct_cache import DistinctCache
from transforms.geoip import shared_geoip
from transforms.redaction import redact_dimension
from transforms.referrers import DEFAULT_SENSITIVE_PARAMS, referrer_columns, strip_params, utm_columns
from transforms.routes import Routes
from transforms.user_agents import UA_SCHEMA, UserAgentClassifier

UA_CACHE_SCHEMA = {"user_agent_id": pl.Int64, **UA_SCHEMA}
# Bounds of each of the enricher's four dimension caches (client, user agent, request,
# referrer): rows, and bytes of cached values (so ~4 x 32 MiB plus their indexes at most).
CACHED_ROWS = 100_000
CACHED_BYTES = 32 * 2**20


@functools.lru_cache(maxsize=4)
def shared_classifier(extra_crawler_patterns: tuple[str, ...]) -> UserAgentClassifier:
    """The process's user-agent classifier for these crawler patterns.

    Work units parsed in one process (one after the other, or on parse threads) share its
    set-up and its memory of user agents already classified (~70 us each the first time);
    the classifier is thread-safe.
    """
    return UserAgentClassifier(extra_crawler_patterns)


def _weak(method: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """``method`` without a strong reference to its object.

    The enricher's caches hold its methods: strong references would make a cycle, and each
    parse task's enricher, caches included, would stay in memory until the cyclic garbage
    collector ran (a process parsing unit after unit grew by ~12 MiB a unit until it did).
    """
    ref = weakref.WeakMethod(method)
    return lambda frame: ref()(frame)


class Enricher:
    """Everything a parse task needs to enrich chunks; one per task, shared by its threads.

    Args:
        ua_cache: Parquet file of user agents classified by earlier runs (``user_agent_id`` +
            :data:`UA_SCHEMA` columns); missing means an empty cache.
        geoip_database: the .mmdb file, or ``None`` for the bundled GeoLite2 City.
        trusted_proxies, site_hosts, sensitive_params, crawler_patterns: from Settings
            (``sensitive_params=None``: :data:`transforms.referrers.DEFAULT_SENSITIVE_PARAMS`).
        routes: the route rules (FOOTFALL_ROUTES) giving ``page_type``, ``community_slug``
            and ``post_id``; ``None`` leaves them null.
        redact_addresses: FOOTFALL_REDACT_REQUEST_ADDRESSES: replace the addresses inside
            requests, referrers and hosts (:func:`transforms.redaction.redact_dimension`).

    Raises:
        transforms.geoip.GeoIPConfigError: the GeoIP database is missing or unreadable.
    """

    def __init__(
        self,
        ua_cache: Path,
        geoip_database: Path | None = None,
        trusted_proxies: tuple[str, ...] = (),
        site_hosts: tuple[str, ...] = (),
        sensitive_params: tuple[str, ...] | None = None,
        crawler_patterns: str | None = None,
        routes: Routes | None = None,
        redact_addresses: bool = False,
    ) -> None:
        self.redact_addresses = redact_addresses
        self.routes = routes or Routes(())
        self.geoip = shared_geoip(geoip_database)
        self.classifier = shared_classifier((crawler_patterns,) if crawler_patterns else ())
        self.trusted_proxies = trusted_proxies
        self.site_hosts = site_hosts
        self.sensitive_params = DEFAULT_SENSITIVE_PARAMS if sensitive_params is None else sensitive_params
        cached = pl.read_parquet(ua_cache) if Path(ua_cache).exists() else pl.DataFrame(schema=UA_CACHE_SCHEMA)
        self._known_ids = set(cached.get_column("user_agent_id").to_list())
        self._cached = cached
        self._new: list[pl.DataFrame] = []
        # Per dimension, the enriched rows of the values seen in earlier chunks: the same
        # user agents, addresses, requests and referrers come back in every chunk.
        self._clients = DistinctCache(_weak(self._enrich_clients), max_rows=CACHED_ROWS, max_bytes=CACHED_BYTES)
        self._agents = DistinctCache(_weak(self._enrich_agents), max_rows=CACHED_ROWS, max_bytes=CACHED_BYTES)
        self._requests = DistinctCache(_weak(self._enrich_requests), max_rows=CACHED_ROWS, max_bytes=CACHED_BYTES)
        self._referrers = DistinctCache(_weak(self._enrich_referrers), max_rows=CACHED_ROWS, max_bytes=CACHED_BYTES)

    def new_user_agents(self) -> pl.DataFrame:
        """User agents classified by this enricher and not in the cache it was given."""
        if not self._new:
            return pl.DataFrame(schema=UA_CACHE_SCHEMA)
        return pl.concat(self._new).unique("user_agent_id")

    def _user_agents(self, agents: pl.DataFrame) -> pl.DataFrame:
        frame = agents.select("user_agent", "user_agent_id").unique()
        # A missing user agent has no id: it is classified (as non-human) like any unknown one.
        cached = pl.col("user_agent_id").is_in(self._known_ids).fill_null(False)
        known = frame.filter(cached)
        unknown = frame.filter(~cached)
        parts = [known.join(self._cached, on="user_agent_id", how="left")]
        if unknown.height:
            classified = self.classifier.classify(unknown.get_column("user_agent")).with_columns(
                unknown.get_column("user_agent_id")
            )
            fresh = classified.filter(pl.col("user_agent_id").is_not_null())
            self._new.append(fresh.select(list(UA_CACHE_SCHEMA)))
            parts.append(classified.select("user_agent", "user_agent_id", *UA_SCHEMA))
        return pl.concat([p.select("user_agent", *UA_SCHEMA) for p in parts])

    def apply(self, events: CodedEvents) -> CodedEvents:
        """Add the enrichment columns to parsed events, once per distinct value.

        Dimension rows seen in earlier chunks (by this enricher) are taken from its caches
        (:class:`transforms.distinct_cache.DistinctCache`) instead of being enriched again;
        the result is the same.

        Args:
            events: coded events with the dimensions of :data:`parsers.coded.DIMENSIONS`, the
                ``user_agent`` dimension with its ``user_agent_id``
                (:func:`transforms.privacy.identify_user_agents`).

        Returns:
            The same events (same codes and rows) whose dimensions gained columns:
            ``client``: ``remote_addr`` becomes the client address (behind trusted proxies),
            plus ``country_code``, ``subdivision_code`` and ``city``;
            ``user_agent``: the classification of :data:`UA_SCHEMA`;
            ``request``: ``page_type``, ``community_slug`` and ``post_id`` from the routes, the
            UTM tags, and ``query`` without sensitive parameters; ``referrer``:
            ``referrer_domain`` and ``referrer_class``, and ``referrer`` without sensitive
            parameters. With ``redact_addresses``, the text of ``request``, ``referrer`` and
            ``host`` has its addresses replaced (cached with the rest: once per distinct value).
        """
        hosts = events.dims["host"]
        return (
            events.with_dim("client", self._clients(events.dims["client"]))
            .with_dim("user_agent", self._agents(events.dims["user_agent"]))
            .with_dim("request", self._requests(events.dims["request"]))
            .with_dim("referrer", self._referrers(events.dims["referrer"]))
            .with_dim("host", redact_dimension("host", hosts) if self.redact_addresses else hosts)
        )

    # The computations behind the caches: each maps dimension rows to enriched rows, one for
    # one, from that row's values only.

    def _enrich_clients(self, client: pl.DataFrame) -> pl.DataFrame:
        if self.trusted_proxies:
            client = client.with_columns(client_addresses(client, self.trusted_proxies).alias("remote_addr"))
        addresses = client.get_column("remote_addr")
        geo = self.geoip.lookup(addresses.unique())
        return client.join(geo, on="remote_addr", how="left", nulls_equal=True, maintain_order="left")

    def _enrich_agents(self, agents: pl.DataFrame) -> pl.DataFrame:
        return agents.join(
            self._user_agents(agents),
            on="user_agent",
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )

    def _enrich_requests(self, request: pl.DataFrame) -> pl.DataFrame:
        return (
            request.join(self.routes.classify(request.get_column("path")), on="path", how="left", maintain_order="left")
            .with_columns(*utm_columns(pl.col("query")))
            .with_columns(strip_params(pl.col("query"), self.sensitive_params).alias("query"))
            .pipe(self._redacted, "request")
        )

    def _enrich_referrers(self, referrer: pl.DataFrame) -> pl.DataFrame:
        return (
            referrer.with_columns(*referrer_columns(pl.col("referrer"), self.site_hosts))
            .with_columns(strip_params(pl.col("referrer"), self.sensitive_params).alias("referrer"))
            .pipe(self._redacted, "referrer")
        )

    def _redacted(self, frame: pl.DataFrame, dim: str) -> pl.DataFrame:
        return redact_dimension(dim, frame) if self.redact_addresses else frame
