"""Referrer domain and source class, UTM tags, and removal of sensitive query parameters.

Everything here returns polars expressions, evaluated column-wise. Work that costs more than a
lookup runs once per distinct value and is joined back: the referrer's domain and class, the
percent-decoding of UTM values, the rewrite of a value that holds a sensitive parameter.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import polars as pl

REFERRER_CLASSES = ("direct", "internal", "search", "social", "other")

# Query parameters removed from stored paths and referrers because they carry secrets or
# personal data (FOOTFALL_SENSITIVE_PARAMS replaces the list). Names match case-insensitively
# and exactly ("key" does not remove "keyword"); "name[...]" array forms are removed too.
DEFAULT_SENSITIVE_PARAMS: tuple[str, ...] = (
    # From the issue:
    "token",
    "access_token",
    "session",
    "sid",  # phpBB and others put the session id in links (seen in apache_logs referrers)
    "password",
    "email",
    "key",
    # Same kind, common spellings: OAuth tokens, API keys, session ids, passwords.
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "secret",
    "sessionid",
    "phpsessid",
    "passwd",
    "pwd",
    # A request signature (e.g. Jetpack's "token=...&signature=..." in the wordpress log).
    "signature",
)

# Search engines and social networks by referrer domain ("www." already removed). A subset of
# snowplow-referer-parser's resources/referers.yml (sections "search" and "social",
# https://github.com/snowplow-referer-parser/referer-parser), the entries that matter most.
# "*.d" = d and its subdomains; "d.*" = d under any country TLD (google.de, google.co.uk,
# google.com.br). Mastodon-like networks cannot be told by domain: any server can host one.
SEARCH_ENGINES: tuple[str, ...] = (
    "google.*",
    "*.bing.com",
    "*.duckduckgo.com",
    "yahoo.*",
    "*.search.yahoo.*",
    "yandex.*",
    "ya.ru",
    "*.baidu.com",
    "*.ecosia.org",
    "*.qwant.com",
    "*.startpage.com",
    "search.brave.com",
    "*.ask.com",
    "search.aol.com",
    "search.naver.com",
    "search.seznam.cz",
    "*.sogou.com",
    "*.so.com",
    "*.kagi.com",
)
SOCIAL_NETWORKS: tuple[str, ...] = (
    "*.facebook.com",
    "fb.me",
    "t.co",
    "*.twitter.com",
    "x.com",
    "*.linkedin.com",
    "lnkd.in",
    "*.reddit.com",
    "news.ycombinator.com",
    "*.instagram.com",
    "*.threads.net",
    "*.youtube.com",
    "youtu.be",
    "pinterest.*",
    "*.tumblr.com",
    "vk.com",
    "m.vk.com",
    "ok.ru",
    "*.tiktok.com",
    "*.quora.com",
    "weibo.com",
    "bsky.app",
    "mastodon.social",
    "t.me",
    "web.telegram.org",
    "web.whatsapp.com",
)

_PARAMS_ENV = "FOOTFALL_SENSITIVE_PARAMS"
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.~-]+")
_ANY_TLD = r"\.(?:com?\.)?[a-z]{2,3}"


def _domain_regex(entries: tuple[str, ...]) -> str:
    """One anchored regex for the domain patterns of :data:`SEARCH_ENGINES` / :data:`SOCIAL_NETWORKS`."""
    parts = []
    for entry in entries:
        sub = entry.startswith("*.")
        core = entry[2:] if sub else entry
        tld = core.endswith(".*")
        core = core[:-2] if tld else core
        parts.append(("(?:.+\\.)?" if sub else "") + core.replace(".", r"\.") + (_ANY_TLD if tld else ""))
    return "^(?:" + "|".join(parts) + ")$"


_SEARCH_RE = _domain_regex(SEARCH_ENGINES)
_SOCIAL_RE = _domain_regex(SOCIAL_NETWORKS)


def normalise_host(host: str) -> str:
    """A site host as referrer domains are compared: lower-case, no port, no leading ``www.``."""
    host = host.strip().lower().rstrip(".")
    if not host.startswith("["):
        host = host.split(":", 1)[0]
    return host.removeprefix("www.")


def referrer_domain(referrer: pl.Expr) -> pl.Expr:
    """The lower-case host of an absolute http(s) referrer, without user info, port, trailing
    dot or leading ``www.``; null for anything else (``-``, relative, ``android-app://``)."""
    host = (
        # A backslash stays in the host: here it is the parser's \xNN text for bytes that are
        # not UTF-8 (apache_logs has a cp1251 host), not a path separator.
        referrer.str.extract(r"(?i)^\s*https?://([^/?#]*)", 1)
        .str.replace(r"^.*@", "")
        .str.replace(r"^(\[[^\]]*\]):\d*$|^([^\[:]*):\d*$", "$1$2")
        .str.to_lowercase()
        .str.strip_chars_end(".")
        .str.replace(r"^www\.", "")
    )
    return pl.when(host != "").then(host)


def _classes(domain: pl.Expr, referrer: pl.Expr, hosts: tuple[str, ...]) -> pl.Expr:
    internal = pl.lit(False)
    for host in hosts:
        internal = internal | (domain == host) | domain.str.ends_with("." + host)
    absent = referrer.is_null() | referrer.str.strip_chars().is_in(["", "-"])
    return (
        pl.when(absent)
        .then(pl.lit("direct"))
        .when(internal.fill_null(False))
        .then(pl.lit("internal"))
        .when(domain.str.contains(_SEARCH_RE).fill_null(False))
        .then(pl.lit("search"))
        .when(domain.str.contains(_SOCIAL_RE).fill_null(False))
        .then(pl.lit("social"))
        .otherwise(pl.lit("other"))
    )


def _per_distinct(values: pl.Series, hosts: tuple[str, ...], column: str) -> pl.Series:
    """Domain or class of each referrer, computed once per distinct value and joined back."""
    frame = values.rename("v").to_frame()
    distinct = frame.unique().with_columns(referrer_domain(pl.col("v")).alias("referrer_domain"))
    distinct = distinct.with_columns(_classes(pl.col("referrer_domain"), pl.col("v"), hosts).alias("referrer_class"))
    out = frame.join(distinct, on="v", how="left", nulls_equal=True, maintain_order="left")
    return out.get_column(column)


def referrer_columns(referrer: pl.Expr, site_hosts: tuple[str, ...]) -> list[pl.Expr]:
    """Referrer domain and source class.

    Args:
        referrer: String expression, the logged ``$http_referer`` (null or ``-`` when absent).
        site_hosts: the site's own host names (FOOTFALL_SITE_HOSTS); a referrer from one of
            them or a subdomain is internal. Compared after :func:`normalise_host`.

    Returns:
        ``[referrer_domain, referrer_class]``: the domain (see :func:`referrer_domain`) and one
        of :data:`REFERRER_CLASSES`: ``direct`` (no referrer: null, empty or ``-``),
        ``internal``, ``search`` (:data:`SEARCH_ENGINES`), ``social`` (:data:`SOCIAL_NETWORKS`),
        ``other`` (any other referrer, including ones without an http(s) host). Both are
        computed once per distinct referrer and joined back (a log has few distinct referrers).
    """
    hosts = tuple(sorted({normalise_host(h) for h in site_hosts if h and h.strip()}))
    return [
        referrer.map_batches(
            lambda s, c=column: _per_distinct(s, hosts, c), return_dtype=pl.String, is_elementwise=True
        ).alias(column)
        for column in ("referrer_domain", "referrer_class")
    ]


def _decode_distinct(values: pl.Series) -> pl.Series:
    """``+`` -> space and ``%XX`` -> bytes (UTF-8, invalid bytes replaced), per distinct value."""
    encoded = values.str.contains(r"[%+]").fill_null(False)
    if not encoded.any():
        return values
    distinct = values.filter(encoded).unique().to_list()
    return values.replace({v: unquote_plus(v, errors="replace") for v in distinct})


def utm_columns(query: pl.Expr) -> list[pl.Expr]:
    """``utm_source``, ``utm_medium``, ``utm_campaign`` from the request's query string.

    Args:
        query: String expression, the query string without ``?`` (``parsers.access_log``'s
            ``query`` column).

    Returns:
        Three String expressions: the first value of each parameter (names exact, lower-case,
        as Google Analytics reads them), percent-decoded; null when absent or empty.
    """
    out = []
    for name in ("utm_source", "utm_medium", "utm_campaign"):
        # replace("", None), not when(raw != "").then(raw): an eager frame does not share the
        # extract() between the two uses, so the regex would run twice over every query.
        raw = query.str.extract(rf"(?:^|&){name}=([^&#]*)", 1).replace("", None)
        value = raw.map_batches(_decode_distinct, return_dtype=pl.String, is_elementwise=True)
        out.append(value.alias(name))
    return out


def check_param_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Validate sensitive parameter names (letters, digits, ``_ . ~ -``).

    Raises:
        ValueError: a name has other characters; the message names FOOTFALL_SENSITIVE_PARAMS.
    """
    for name in names:
        if not _PARAM_NAME.fullmatch(name):
            raise ValueError(
                f"{_PARAMS_ENV}: {name!r} is not a query parameter name "
                "(use letters, digits and _ . ~ -, separated by commas)"
            )
    return tuple(names)


def _strip_expr(value: pl.Expr, alt: str) -> pl.Expr:
    is_url = value.str.contains(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|/)")
    query = pl.when(is_url).then(value.str.extract(r"^[^?#]*\?([^#]*)", 1)).otherwise(value)
    # ";" separates parameters too (HTML-escaped "&amp;" ends in one): rewritten as "&".
    # Every "&" doubled and the query wrapped in "&": each parameter then sits between its own
    # pair of "&", so consecutive sensitive parameters are all matched without look-around.
    query = query.str.replace_all(";", "&", literal=True)
    doubled = pl.concat_str(pl.lit("&"), query.str.replace_all("&", "&&", literal=True), pl.lit("&"))
    # token, token[]=, token%5B%5D= (the same, percent-encoded).
    removed = doubled.str.replace_all(rf"&{alt}(?:\[[^&]*\]|%5[Bb][^&=]*)?(?:=[^&]*)?&", "")
    cleaned = removed.str.strip_chars("&").str.replace_all("&&", "&", literal=True)
    keep = cleaned.is_not_null() & (cleaned != "")
    url = pl.concat_str(
        value.str.extract(r"^([^?#]*)", 1),
        pl.when(keep).then(pl.lit("?") + cleaned).otherwise(pl.lit("")),
        value.str.extract(r"^[^#]*(#.*)$", 1).fill_null(""),
    )
    return pl.when(is_url).then(url).otherwise(pl.when(keep).then(cleaned))


def _strip_series(values: pl.Series, alt: str) -> pl.Series:
    hit = values.str.contains(rf"(?:^|[?&;]){alt}(?:[=\[&#;%]|$)").fill_null(False)
    if not hit.any():
        return values
    old = values.filter(hit).unique()
    new = old.to_frame("v").select(_strip_expr(pl.col("v"), alt)).to_series()
    return values.replace(old, new)


def strip_params(expr: pl.Expr, names: tuple[str, ...] = DEFAULT_SENSITIVE_PARAMS) -> pl.Expr:
    """Remove query parameters named ``names`` from a query string or a URL.

    Args:
        expr: String expression; each value is either a URL (``scheme://...`` or ``/path``;
            its query is the part between the first ``?`` and ``#``) or a bare query string
            (``a=1&b=2``, the ``query`` column).
        names: parameter names, matched case-insensitively and exactly, with or without a
            value (``token``, ``token=``, ``token=x``, ``token[]=x``, ``token%5B%5D=x``), after
            ``&``, ``;`` or ``&amp;``; empty = keep everything. In a value that had one of
            the names, ``;`` separators come back as ``&``.

    Returns:
        The values with those parameters removed, the other parameters in their order, and no
        dangling ``?`` or ``&``; a bare query string left empty becomes null. Values without
        any of the names are returned unchanged. The rewrite runs once per distinct value
        that has one of the names.

    Raises:
        ValueError: a name is not a plain parameter name (:func:`check_param_names`).
    """
    names = check_param_names(tuple(names))
    if not names:
        return expr
    alt = "(?i:" + "|".join(n.replace(".", r"\.") for n in names) + ")"
    return expr.map_batches(lambda s: _strip_series(s, alt), return_dtype=pl.String, is_elementwise=True)
