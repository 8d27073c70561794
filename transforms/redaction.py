"""Redaction of what a request may carry about a person, before anything is written.

Anyone can put an address into a request: a "what is my IP" page that links to
``/whatismyip?ip=198.51.100.23``, a route like ``/geo/198.51.100.24``, a referrer
``http://198.51.100.25:8080/admin`` from a page served by address, a host header of
``203.0.113.5``. The client address itself is hashed and dropped
(:func:`transforms.privacy.pseudonymise`); the addresses *inside* a request are replaced here,
by the same rule as in quarantined lines (:data:`transforms.privacy.ADDRESS_PATTERN`, each match
becomes ``<address>``):

* in the request's ``path`` and ``query`` and what is derived from them (the UTM tags, after
  percent-decoding, and the route's ``community_slug`` and ``post_id``);
* in the ``referrer`` (its host part too) and ``referrer_domain``;
* in the ``host``;
* in the stored ``user_agent``: done by :func:`transforms.privacy.pseudonymise`
  (``redact_user_agent``), after the user agent's hashes and classification and before it is
  cut to 100 characters, so ids, browser and crawler are those of the user agent as sent.

:class:`transforms.enrich.Enricher` runs it on the dimensions of coded events
(:mod:`parsers.coded`), at the end of its cached enrichment, so once per distinct value of a
parse task: routes, referrer classes and UTM tags are computed from the values as logged (a site
served by address is still ``internal``), and nothing derived from them keeps the address.
``FOOTFALL_REDACT_REQUEST_ADDRESSES=false`` turns it off, for sites whose URLs hold no personal
data and where version-like text (``/v1.2.3.4/``, ``APT-HTTP/1.3 (0.9.7.9)``: IPv4 addresses in
shape) matters more; docs/operators/privacy.md says what is stored either way.
"""

from __future__ import annotations

import polars as pl

from parsers.access_log import escape_controls
from transforms.privacy import redact_addresses, redact_param_values

# Dimension -> its columns that hold text taken from the request (as logged or derived from it).
REQUEST_TEXT: dict[str, tuple[str, ...]] = {
    "request": ("path", "query", "utm_source", "utm_medium", "utm_campaign", "community_slug", "post_id"),
    "referrer": ("referrer", "referrer_domain"),
    "host": ("host",),
}


def redact_dimension(dim: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Dimension ``dim`` of coded events with every IPv4/IPv6-looking substring of its
    :data:`REQUEST_TEXT` columns replaced by ``<address>``.

    Args:
        dim: ``request``, ``referrer`` or ``host`` (other dimensions are returned as they are).
        frame: its distinct values, after enrichment (columns it lacks are skipped).

    Returns:
        A frame of the same rows and columns.
    """
    present = [c for c in REQUEST_TEXT.get(dim, ()) if c in frame.columns]
    return frame.with_columns(redact_addresses(pl.col(c)).alias(c) for c in present) if present else frame


def redact_quarantined_lines(line: pl.Expr, sensitive_params: tuple[str, ...]) -> pl.Expr:
    """A quarantined line as it is stored: control characters as ``\\xNN`` text (as in parsed
    values), every address replaced by ``<address>`` and the values of ``sensitive_params``
    (FOOTFALL_SENSITIVE_PARAMS) by ``<removed>`` (:func:`transforms.privacy.redact_param_values`).
    No field can be told apart in a line that does not match the format, so the whole line is
    redacted, user agent included."""
    text = line.map_batches(escape_controls, return_dtype=pl.String, is_elementwise=True)
    return redact_param_values(redact_addresses(text), sensitive_params)
