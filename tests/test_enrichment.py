"""Enrichment on real user agents, addresses and referrers from ../shared/data/real.

Values are checked against independent implementations where one exists: user-agents'
``parse`` (legacy ua-parser), crawlerdetect's ``CrawlerDetect``, geoip2's ``Reader.city``.
No log content is printed in assertion messages beyond the value under test.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import random
import re

import geoip2.database
import polars as pl
import pytest
import ua_parser
import user_agents
from conftest import shared_log
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as CRAWLERDETECT_PATTERNS
from crawlerdetect.providers.exclusions import data as CRAWLERDETECT_EXCLUSIONS
from ua_parser.matchers import DeviceMatcher, OSMatcher, UserAgentMatcher

from parsers.access_log import parse_lines
from parsers.log_format import COMBINED, compile_log_format
from transforms.client_address import client_addresses, parse_cidrs
from transforms.enrich import Enricher
from transforms.geoip import GEO_SCHEMA, GeoIP, GeoIPConfigError, default_database_path, shared_geoip
from transforms.referrers import (
    DEFAULT_SENSITIVE_PARAMS,
    check_param_names,
    referrer_columns,
    strip_params,
    utm_columns,
)
from transforms.user_agents import (
    DEVICE_TYPES,
    NON_BROWSER_RULES,
    UA_SCHEMA,
    FastUserAgent,
    UserAgentClassifier,
    _compiles_in_polars,
    _crawlerdetect,
    _polars_accepts,
)

LOGS = ("apache_logs", "nginx_logs", "wordpress_access3.log.gz")


@pytest.fixture(scope="module")
def events() -> dict[str, pl.DataFrame]:
    """Parsed events of the three real logs, read the way warehouse/ingest/chunks.py reads them."""
    out = {}
    for name in LOGS:
        data = shared_log(name).read_bytes()
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        lines = pl.read_lines(io.BytesIO(data), row_index_name="line_number", row_index_offset=1)
        lines = lines.with_columns(pl.col("line_number").cast(pl.Int64))
        out[name] = parse_lines(lines, compile_log_format(COMBINED)).events
    return out


@pytest.fixture(scope="module")
def real_agents(events) -> list[str]:
    """Every distinct non-null user agent of the three logs, sorted."""
    agents = pl.concat([e.get_column("user_agent") for e in events.values()]).drop_nulls().unique()
    return sorted(agents.to_list())


@pytest.fixture(scope="module")
def classifier() -> UserAgentClassifier:
    return UserAgentClassifier()


def _real(agents: list[str], needle: str) -> str:
    """The first real user agent containing ``needle``."""
    found = [a for a in agents if needle in a]
    assert found, f"no user agent with {needle!r} in the shared logs"
    return found[0]


def _row(classifier: UserAgentClassifier, ua: str | None) -> dict:
    return classifier.classify(pl.Series([ua], dtype=pl.String)).row(0, named=True)


# -- user agents: contract ------------------------------------------------------------------


@pytest.mark.real_logs
def test_classify_returns_one_row_per_input_in_order_with_the_schema(classifier, real_agents):
    sample = pl.Series([real_agents[10], None, real_agents[3], "", real_agents[10]], dtype=pl.String)
    out = classifier.classify(sample)
    assert out.columns == ["user_agent", *UA_SCHEMA]
    assert dict(out.schema) == {"user_agent": pl.String, **UA_SCHEMA}
    assert out.get_column("user_agent").to_list() == sample.to_list()
    assert set(out.get_column("device_type")) <= set(DEVICE_TYPES)
    assert out.row(0) == out.row(4)
    assert classifier.classify(pl.Series([], dtype=pl.String)).height == 0


@pytest.mark.real_logs
def test_a_user_agent_is_parsed_once_per_process(real_agents):
    class Counting(UserAgentClassifier):
        parsed: list[str] = []

        def _classify_new(self, keys: pl.Series) -> pl.DataFrame:
            self.parsed.extend(keys.to_list())
            return super()._classify_new(keys)

    counting = Counting()
    first = counting.classify(pl.Series(real_agents[:50]))
    again = counting.classify(pl.Series(real_agents[25:60]))
    assert sorted(counting.parsed) == sorted(real_agents[:60])
    assert again.head(25).equals(first.tail(25))


# -- user agents: same answers as user-agents' parse and crawlerdetect ------------------------


def _unbounded_parser() -> ua_parser.Parser:
    """ua-parser's pure-Python resolver with every bounded repetition of upper bound >= 100
    made unbounded, as ua-parser-rs compiles them (https://github.com/ua-parser/uap-core/issues/596)."""

    def rw(pattern: str) -> str:
        return re.sub(r"\{(\d+),(\d{3,})\}", r"{\1,}", pattern)

    uas, oss, devices = ua_parser.load_builtins()
    return ua_parser.Parser(
        ua_parser.BasicResolver(
            (
                [UserAgentMatcher(rw(m.regex), m.family, m.major, m.minor, m.patch, m.patch_minor) for m in uas],
                [OSMatcher(rw(m.regex), m.family, m.major, m.minor, m.patch, m.patch_minor) for m in oss],
                [DeviceMatcher(rw(m.regex), m.regex_flag or None, m.family, m.brand, m.model) for m in devices],
            )
        )
    )


def _facts(ua) -> tuple:
    return (ua.browser, ua.os, ua.device, ua.is_bot, ua.is_mobile, ua.is_tablet, ua.is_pc)


@pytest.mark.real_logs
def test_fast_parse_gives_user_agents_parse_results(real_agents):
    """The fast path (ua-parser 1.0 + ua-parser-rs -> user-agents' UserAgent) agrees with
    ``user_agents.parse`` on a sample of 300 real user agents plus every long one the fast
    path calls a Spider; each difference is ua-parser-rs's unbounded ``.{0,100}``.

    On all 5,450 distinct user agents of the three logs: 8 differ, all of that kind
    (crawler tokens past character 100: slurp, Applebot, 360Spider, SurveyBot, ...).
    """
    fast = {ua: FastUserAgent(ua) for ua in real_agents}
    sample = set(random.Random(20160220).sample(real_agents, 300))
    sample |= {ua for ua, f in fast.items() if f.is_bot and len(ua) > 100}
    unbounded = _unbounded_parser()
    explained = []
    for ua in sorted(sample):
        legacy = user_agents.parse(ua)
        if _facts(legacy) != _facts(fast[ua]):
            assert _facts(FastUserAgent(ua, unbounded.parse(ua))) == _facts(fast[ua]), ua
            explained.append(ua)
    assert len(sample) > 320
    assert len(explained) <= 10  # the 8 known ones are all in the sample (long, Spider)
    assert all(fast[ua].is_bot for ua in explained)


@pytest.mark.real_logs
def test_crawler_detection_equals_crawlerdetect_on_every_real_user_agent(real_agents):
    # Plus a few made up to put matches of several chunks at one position or side by side.
    agents = [
        *real_agents, "", "   ", "-", "Mozilla/5.0", "  Googlebot/2.1  ", "Google favicon crawler", "wget curl",
        "curl/7.1 wget/1.2 Googlebot", "Mozilla/5.0 (compatible; Yandex)", "YandexSearch YandexBot", "\u0130bot",
        "\u212abot", "DebugBear\nMozilla/5.0",
    ]  # fmt: skip
    detector = CrawlerDetect()
    expected = []
    for ua in agents:
        is_crawler = detector.is_crawler(ua)
        expected.append(detector.get_matches() if is_crawler else None)
    stripped = pl.Series(agents).str.strip_chars()
    got = _crawlerdetect().matches(stripped).to_list()
    mismatches = [(a, e, g) for a, e, g in zip(agents, expected, got, strict=True) if e != g]
    assert mismatches == []
    assert sum(e is not None for e in expected) > 500


def test_patterns_rust_regex_cannot_compile_are_found_and_decided_in_python():
    detector = _crawlerdetect()
    # Found by trying to compile each pattern in polars, not listed by hand: today only one.
    assert detector.python_only == ("Yandex(?!Search)",)
    agents = [
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; YandexDirect/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (Windows NT 6.1) YandexSearch/8.50",
    ]
    got = detector.matches(pl.Series(agents)).to_list()
    cd = CrawlerDetect()
    assert got == [cd.get_matches() if cd.is_crawler(a) else None for a in agents]
    assert got[2] is None


def test_one_call_compile_check_agrees_with_compiling_each_pattern():
    # The set-up decides which patterns polars runs in one call; it must answer as one
    # compile per pattern does, on the shipped lists and on patterns Rust's regex rejects.
    patterns = [f"(?i){p}" for p in (*CRAWLERDETECT_PATTERNS[:300], *CRAWLERDETECT_EXCLUSIONS)]
    patterns += ["Yandex(?!Search)", r"(a)\1", "unbalanced(", "a{2,1}", "(?<=x)y", "ok|fine", ""]
    accepted = _polars_accepts(patterns)
    assert accepted == [_compiles_in_polars(p) is None for p in patterns]
    assert accepted[-2:] == [True, True] and accepted[-7:-2] == [False] * 5


# -- user agents: real crawlers, non-browsers and browsers ------------------------------------


@pytest.mark.real_logs
@pytest.mark.parametrize(
    ("needle", "name"),
    [
        ("Googlebot/2.1", "Googlebot"),
        ("bingbot/2.0", "bingbot"),
        ("jetmon/1.0", "WordPress"),  # ua-parser: Spider, family WordPress (Jetpack's monitor)
        ("Debian APT-HTTP/", "APT"),
        ("Ubuntu APT-HTTP/", "APT"),
        ("urlgrabber/3.9.1 yum/", "yum"),
        ("Chef Client/", "Chef"),
        ("Chef Knife/", "Chef"),
        ("Apt-Cacher-NG/", "Apt-Cacher-NG"),
        ("curl/7.", "curl"),
        ("Wget/1.", "Wget"),
        ("FeedBurner/", "FeedBurner"),
        ("Tiny Tiny RSS/", "Tiny Tiny RSS"),
        ("UniversalFeedParser/", "UniversalFeedParser"),
        ("XML-RPC.NET", "XML-RPC.NET"),
        ("Mozilla/4.0 (compatible;)", "bare Mozilla token"),
    ],
)
def test_real_crawlers_and_non_browsers_are_not_human(classifier, real_agents, needle, name):
    row = _row(classifier, _real(real_agents, needle))
    assert row["is_crawler"] is True
    assert row["device_type"] == "bot"
    assert name.lower() in row["crawler_name"].lower()


@pytest.mark.parametrize("ua", [None, "", "   ", "-"])
def test_missing_or_empty_user_agent_is_not_human(classifier, ua):
    row = _row(classifier, ua)
    assert (row["is_crawler"], row["crawler_name"], row["device_type"]) == (True, "empty user agent", "bot")


@pytest.mark.real_logs
def test_nginx_logs_package_managers_come_out_non_human(classifier, events):
    hits = events["nginx_logs"].select("user_agent")
    classified = classifier.classify(hits.get_column("user_agent").unique())
    joined = hits.join(classified, on="user_agent", how="left", nulls_equal=True)
    assert joined.get_column("is_crawler").mean() > 0.99
    names = set(joined.get_column("crawler_name").drop_nulls())
    assert {"APT", "yum", "Chef", "Apt-Cacher-NG"} <= names


@pytest.mark.real_logs
def test_injection_payloads_in_user_agents_classify_without_error(classifier, real_agents):
    # wordpress log: PHP object injection payloads with \"-escaped quotes and \xNN bytes.
    payloads = [a for a in real_agents if '"' in a]
    assert len(payloads) == 3 and any(r"\xf0\xfd" in a for a in payloads)
    out = classifier.classify(pl.Series(payloads))
    assert out.get_column("crawler_name").to_list() == ["DatabaseDriverMysqli"] * 3  # crawlerdetect's list


_IPAD = "(iPad; CPU OS 6_0_1 like Mac OS X) AppleWebKit/536.26"
_IPHONE = "(iPhone; CPU iPhone OS 9_2_1 like Mac OS X) AppleWebKit/601.1"
_WINDOWS = "(Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko)"


@pytest.mark.real_logs
@pytest.mark.parametrize(
    ("needle", "browser", "major", "os", "device"),
    [
        (_IPAD, "Mobile Safari", "6", "iOS", "tablet"),
        (f"{_IPHONE}.46 (KHTML, like Gecko) Version/9.0 Mobile/13D20", "Mobile Safari", "9", "iOS", "mobile"),
        (f"{_IPHONE} (KHTML, like Gecko) CriOS/48.", "Chrome Mobile iOS", "48", "iOS", "mobile"),
        (f"{_WINDOWS} Chrome/48.", "Chrome", "48", "Windows", "desktop"),
        ("(X11; Linux x86_64; rv:34.0) Gecko/20100101 Firefox/34.0", "Firefox", "34", "Linux", "desktop"),
    ],
)
def test_real_browsers(classifier, real_agents, needle, browser, major, os, device):
    row = _row(classifier, _real(real_agents, needle))
    assert (row["browser_family"], row["browser_major"], row["os_family"], row["device_type"]) == (
        browser,
        major,
        os,
        device,
    )
    assert (row["is_crawler"], row["crawler_name"]) == (False, None)


@pytest.mark.real_logs
def test_extra_crawler_patterns(real_agents):
    ua = _real(real_agents, "(X11; Linux x86_64; rv:34.0) Gecko/20100101 Firefox/34.0")
    extra = UserAgentClassifier((r"linux x86_64; rv:34\.0",))
    row = _row(extra, ua)
    assert (row["is_crawler"], row["crawler_name"]) == (True, r"linux x86_64; rv:34\.0")
    assert row["browser_family"] == "Firefox"


@pytest.mark.parametrize("pattern", ["(unclosed", r"Yandex(?!Search)", ""])
def test_invalid_extra_crawler_pattern_names_the_setting(pattern):
    with pytest.raises(ValueError, match="FOOTFALL_CRAWLER_PATTERNS"):
        UserAgentClassifier((pattern,))


def test_non_browser_rules_compile_and_have_unique_names():
    names = [name for name, _ in NON_BROWSER_RULES]
    assert len(names) == len(set(names))
    UserAgentClassifier(tuple(p for _, p in NON_BROWSER_RULES))


# -- GeoIP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def geoip() -> GeoIP:
    return GeoIP()


@pytest.mark.real_logs
def test_real_public_addresses_match_geoip2(geoip, events):
    addresses = pl.concat([e.get_column("remote_addr") for e in events.values()]).unique().sort().to_list()
    public = [a for a in addresses if ipaddress.ip_address(a).is_global]
    v6 = [a for a in public if ":" in a]
    assert len(v6) >= 20  # nginx_logs: real public IPv6 clients
    sample = random.Random(7).sample(public, 300) + v6
    got = geoip.lookup(pl.Series(sample))
    assert got.get_column("remote_addr").to_list() == sample
    reader = geoip2.database.Reader(str(default_database_path()))
    expected = []
    for address in sample:
        try:
            city = reader.city(address)
        except geoip2.errors.AddressNotFoundError:
            expected.append((address, None, None, None))
            continue
        country = city.country.iso_code
        sub = city.subdivisions[0].iso_code if city.subdivisions else None
        expected.append((address, country, f"{country}-{sub}" if country and sub else None, city.city.name))
    assert got.rows() == expected
    located = got.drop_nulls("country_code")
    assert located.height > 290 and located.get_column("city").null_count() < located.height


def test_well_known_addresses(geoip):
    got = geoip.lookup(pl.Series(["8.8.8.8", "::ffff:8.8.8.8", "2001:4860:4860::8888"]))
    assert got.get_column("country_code").to_list() == ["US", "US", "US"]


@pytest.mark.real_logs
def test_private_reserved_and_invalid_addresses_are_null(geoip, events):
    private = sorted(a for a in events["nginx_logs"].get_column("remote_addr").unique() if a.startswith("10."))
    assert len(private) > 20  # nginx_logs: real private addresses
    special = [
        "127.0.0.1", "::1", "0.0.0.0", "::", "169.254.10.1", "fe80::1", "192.168.1.20", "172.16.5.4",
        "100.64.0.1", "224.0.0.251", "ff02::1", "240.0.0.1", "192.0.2.1", "2001:db8::1", "::ffff:10.1.2.3",
        "unknown", "", "999.1.1.1", "-", None,
    ]  # fmt: skip
    got = geoip.lookup(pl.Series([*private, *special], dtype=pl.String))
    assert got.height == len(private) + len(special)
    assert got.drop("remote_addr").null_count().row(0) == (got.height,) * 3


def test_lookup_schema_and_cache(geoip):
    first = geoip.lookup(pl.Series(["81.2.69.142", None, "8.8.8.8"]))
    assert dict(first.schema) == GEO_SCHEMA
    assert first.row(0) == ("81.2.69.142", "GB", "GB-ENG", "Willesden")
    assert geoip.lookup(pl.Series(["8.8.8.8", "81.2.69.142"])).rows() == [first.row(2), first.row(0)]


def test_missing_geoip_database_is_a_configuration_error(tmp_path):
    missing = tmp_path / "nowhere" / "GeoLite2-City.mmdb"
    with pytest.raises(GeoIPConfigError, match="GEOIP_DATABASE") as caught:
        GeoIP(missing)
    assert str(missing) in str(caught.value)


def test_work_units_in_one_process_share_one_geoip_and_a_fixed_database_is_found(tmp_path):
    # The bundled database named or implied is one object, so its located addresses are shared.
    assert shared_geoip() is shared_geoip(default_database_path())
    # Each parse task builds an Enricher: they all look addresses up through that one object.
    enrichers = [Enricher(tmp_path / "no-ua-cache.parquet") for _ in range(2)]
    assert enrichers[0].geoip is enrichers[1].geoip is shared_geoip()
    assert shared_geoip(None).lookup(pl.Series(["81.2.69.142"])).row(0) == ("81.2.69.142", "GB", "GB-ENG", "Willesden")
    # A missing file is an error every time (not remembered), and once it exists it is used.
    path = tmp_path / "GeoLite2-City.mmdb"
    for _ in range(2):
        with pytest.raises(GeoIPConfigError, match="GEOIP_DATABASE"):
            shared_geoip(path)
    path.write_bytes(default_database_path().read_bytes())
    assert shared_geoip(path) is shared_geoip(path) and shared_geoip(path) is not shared_geoip()


@pytest.mark.parametrize("content", [b"", b"not a MaxMind database\n" * 100, None])
def test_unreadable_geoip_database_is_a_configuration_error(tmp_path, content):
    path = tmp_path / "GeoLite2-City.mmdb"
    if content is None:
        path.mkdir()  # a directory where the file should be
    else:
        path.write_bytes(content)
    with pytest.raises(GeoIPConfigError, match="GEOIP_DATABASE") as caught:
        GeoIP(path)
    assert str(path) in str(caught.value)


# -- client address behind proxies ------------------------------------------------------------


def _clients(pairs, trusted) -> list:
    frame = pl.DataFrame(pairs, schema={"remote_addr": pl.String, "x_forwarded_for": pl.String}, orient="row")
    return client_addresses(frame, trusted).to_list()


def test_forwarded_for_chains():
    trusted = ("10.0.0.0/8", "2001:db8:ffff::/48")
    pairs = [
        # Behind one trusted proxy: the right-most entry is the client.
        ("10.0.0.2", "203.0.113.9"),
        # Two trusted hops; the left-most entry is the client's own claim, ignored.
        ("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.7"),
        # Spoofed: the client wrote private and trusted-looking entries itself.
        ("10.0.0.2", "10.9.9.9, 127.0.0.1, 198.51.100.4"),
        # Every entry trusted: the left-most one.
        ("10.0.0.2", "10.0.0.5, 10.0.0.6"),
        # "unknown" stops the walk at the last address a trusted proxy vouched for.
        ("10.0.0.2", "198.51.100.77, unknown, 10.0.0.9"),
        ("10.0.0.2", "unknown"),
        # IPv6: bare, bracketed with a port, a trusted IPv6 proxy; IPv4 with a port.
        ("2001:db8:ffff::1", "2001:DB8:1::42"),
        ("10.0.0.2", "[2001:db8:1::43]:51234"),
        ("10.0.0.2", "198.51.100.5:4431,[2001:db8:ffff::9]"),
        # Separated by spaces only, as some proxies write it.
        ("10.0.0.2", "198.51.100.6 10.0.0.3"),
        # An untrusted peer's header is never believed.
        ("203.0.113.50", "1.2.3.4"),
        # IPv4-mapped proxy address matches the IPv4 network (as in nginx).
        ("::ffff:10.0.0.2", "198.51.100.8"),
        ("10.0.0.2", None),
        ("10.0.0.2", ""),
        (None, "198.51.100.9"),
    ]
    assert _clients(pairs, trusted) == [
        "203.0.113.9",
        "203.0.113.9",
        "198.51.100.4",
        "10.0.0.5",
        "10.0.0.9",
        "10.0.0.2",
        "2001:db8:1::42",
        "2001:db8:1::43",
        "198.51.100.5",
        "198.51.100.6",
        "203.0.113.50",
        "198.51.100.8",
        "10.0.0.2",
        "10.0.0.2",
        None,
    ]


@pytest.mark.real_logs
def test_forwarded_for_with_real_addresses(events):
    """Real private addresses of nginx_logs as the proxies, its real IPv6 clients behind them."""
    addresses = events["nginx_logs"].get_column("remote_addr").unique().sort().to_list()
    proxies = [a for a in addresses if a.startswith("10.")][:5]
    clients = [a for a in addresses if ":" in a][:5]
    public = [a for a in addresses if "." in a and not a.startswith("10.")][:5]
    pairs = [(p, f"{public[i]}, {clients[i]}") for i, p in enumerate(proxies)]
    pairs += [(public[i], clients[i]) for i in range(5)]  # not behind a proxy: header ignored
    got = _clients(pairs, ("10.0.0.0/8",))
    assert got == [str(ipaddress.ip_address(c)) for c in clients] + public


def test_no_trusted_proxies_keeps_remote_addr():
    frame = pl.DataFrame({"remote_addr": ["10.0.0.2", "203.0.113.1"], "x_forwarded_for": ["198.51.100.1", None]})
    assert client_addresses(frame, ()).to_list() == ["10.0.0.2", "203.0.113.1"]


def test_parse_cidrs():
    assert parse_cidrs(" 10.0.0.0/8, 192.0.2.7  2001:db8::/32,") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert parse_cidrs("") == ()
    assert _clients([("10.1.2.3", "198.51.100.1")], parse_cidrs("10.0.0.0/8")) == ["198.51.100.1"]


@pytest.mark.parametrize("text", ["10.0.0.0/33", "proxy.example.com", "10.0.0.0/8,,x", "2001:db8::/129"])
def test_bad_trusted_proxies_name_the_setting(text):
    with pytest.raises(ValueError, match="FOOTFALL_TRUSTED_PROXIES"):
        parse_cidrs(text)


# -- referrers, UTM, sensitive parameters -----------------------------------------------------


def _referrers(values: list, site_hosts=("semicomplete.com",)) -> list[tuple]:
    frame = pl.DataFrame({"referrer": values}, schema={"referrer": pl.String})
    return frame.select(referrer_columns(pl.col("referrer"), site_hosts)).rows()


@pytest.mark.parametrize(
    ("referrer", "domain", "cls"),
    [
        (None, None, "direct"),
        ("-", None, "direct"),
        ("", None, "direct"),
        ("http://www.semicomplete.com/blog/", "semicomplete.com", "internal"),
        ("https://SEMICOMPLETE.com:443/x", "semicomplete.com", "internal"),
        ("http://logs.semicomplete.com/", "logs.semicomplete.com", "internal"),
        ("http://notsemicomplete.com/", "notsemicomplete.com", "other"),
        ("https://www.google.co.uk/url?q=x", "google.co.uk", "search"),
        ("https://www.google.com.br/", "google.com.br", "search"),
        ("https://mail.google.com/mail/u/0/", "mail.google.com", "other"),
        ("http://www.googlebot.com/bot.html", "googlebot.com", "other"),
        ("https://r.duckduckgo.com/", "r.duckduckgo.com", "search"),
        ("https://cn.bing.com/search?q=x", "cn.bing.com", "search"),
        ("https://r.search.yahoo.com/x", "r.search.yahoo.com", "search"),
        ("https://yandex.ru/clck", "yandex.ru", "search"),
        ("https://search.brave.com/search?q=x", "search.brave.com", "search"),
        ("https://t.co/AbC", "t.co", "social"),
        ("https://l.facebook.com/l.php?u=x", "l.facebook.com", "social"),
        ("https://user:pw@WWW.Reddit.com.:8080/r/x", "reddit.com", "social"),
        ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com", "social"),
        ("https://www.pinterest.co.uk/pin/1", "pinterest.co.uk", "social"),
        ("android-app://com.google.android.gm", None, "other"),
        ("google.com", None, "other"),
        ("http://[2001:db8::1]:8080/x", "[2001:db8::1]", "other"),
    ],
)
def test_referrer_domain_and_class(referrer, domain, cls):
    assert _referrers([referrer]) == [(domain, cls)]


@pytest.mark.real_logs
def test_real_referrers(events):
    apache = events["apache_logs"].select(referrer_columns(pl.col("referrer"), ("semicomplete.com",)))
    counts = dict(apache.get_column("referrer_class").value_counts().iter_rows())
    assert counts["internal"] == 3038 + 2001  # www.semicomplete.com + semicomplete.com
    assert counts["direct"] == 4073
    assert counts["search"] > 550  # google.* (dozens of country domains), bing, duckduckgo
    # Three referrers with a host in cp1251 bytes, kept as \xNN text by the parser.
    escaped = events["apache_logs"].filter(pl.col("referrer").str.contains(r"\x", literal=True))
    assert escaped.height == 3
    got = set(_referrers(escaped.get_column("referrer").to_list()))
    assert got == {(r"\xe4\xe5\xe3\xf2\xff\xf0\xed\xee\xe5-\xec\xfb\xeb\xee.\xf0\xf4", "other")}
    # wordpress: several blogs in one log, each an internal host of the deployment.
    wp = events["wordpress_access3.log.gz"].select(
        referrer_columns(pl.col("referrer"), ("agilemobiledeveloper.com", "sparkdeveloper.com", "mongodbdev.com"))
    )
    internal = set(wp.filter(pl.col("referrer_class") == "internal").get_column("referrer_domain"))
    assert {"agilemobiledeveloper.com", "mongodbdev.com", "sparkdeveloper.com", "cisco.sparkdeveloper.com"} <= internal
    assert all(d.endswith(("agilemobiledeveloper.com", "sparkdeveloper.com", "mongodbdev.com")) for d in internal)


def test_no_site_hosts_means_no_internal_referrers():
    assert _referrers(["http://semicomplete.com/"], ()) == [("semicomplete.com", "other")]


@pytest.mark.real_logs
def test_utm_tags_from_real_query_strings(events):
    queries = pl.concat([e.select("query") for e in events.values()]).filter(pl.col("query").str.contains("utm_"))
    got = set(queries.select(utm_columns(pl.col("query"))).rows())
    assert ("feedburner", "feed", "Feed: semicomplete/main (semicomplete.com - Jordan Sissel)") in got
    assert ("twitter.com", "social", "buffer") in got


def test_utm_edge_cases():
    frame = pl.DataFrame(
        {"query": [None, "utm_source=", "xutm_source=a&utm_source=b&utm_source=c", "utm_campaign=caf%C3%A9+%FF#x"]}
    )
    assert frame.select(utm_columns(pl.col("query"))).rows() == [
        (None, None, None),
        (None, None, None),
        ("b", None, None),
        (None, None, "café \ufffd"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a=1&token=x&b=2", "a=1&b=2"),
        ("token=1&token=2&c=3", "c=3"),
        ("token=1", None),
        ("TOKEN=1&Email=a%40b.example&x=1", "x=1"),
        ("keyword=x&key=1&monkey=2&keys=3", "keyword=x&monkey=2&keys=3"),
        ("key[]=1&key[a]=2&a=1", "a=1"),
        ("a=1&token", "a=1"),
        ("token&a", "a"),
        ("password=&action=publish&blog=1", "action=publish&blog=1"),
        ("a=1&&b=2", "a=1&&b=2"),
        ("a=1&b=2&", "a=1&b=2&"),  # nothing removed: unchanged
        ("a=1&sid=2&", "a=1"),
        ("q=token%3D1", "q=token%3D1"),
        (None, None),
        ("https://x.example/p?token=1", "https://x.example/p"),
        ("https://x.example/p?token=1#top", "https://x.example/p#top"),
        ("https://x.example/p?a=1&session=2&b=3", "https://x.example/p?a=1&b=3"),
        ("https://x.example/p", "https://x.example/p"),
        ("https://x.example/a&token=1/p?b=2", "https://x.example/a&token=1/p?b=2"),
        ("/wp-login.php?redirect_to=%2F&access_token=abc", "/wp-login.php?redirect_to=%2F"),
    ],
)
def test_strip_params(value, expected):
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.String})
    assert frame.select(strip_params(pl.col("v"))).item() == expected


@pytest.mark.real_logs
def test_strip_params_on_real_queries_and_referrers(events):
    wp = events["wordpress_access3.log.gz"].filter(pl.col("query").str.contains("token="))
    apache = events["apache_logs"].filter(pl.col("referrer").str.contains("sid="))
    assert wp.height > 100 and apache.height >= 4  # Jetpack tokens; phpBB session ids
    queries = wp.select(strip_params(pl.col("query"))).get_column("query")
    referrers = apache.select(strip_params(pl.col("referrer"))).get_column("referrer")
    assert not queries.str.contains(r"(?i)(^|&)(token|signature)=").any()
    jetpack = queries.filter(queries.str.starts_with("for=jetpack&"))
    assert jetpack.len() > 100 and jetpack.str.contains(r"^for=jetpack&timestamp=\d+&nonce=\w+&body-hash=").all()
    assert set(queries) - set(jetpack) == {"ver_full"}  # was "ver_full&token=1257"
    assert not referrers.str.contains(r"[?&]sid=").any()
    assert referrers.str.starts_with("http://").all() and referrers.str.contains(r"[?&]t=").all()


def test_strip_params_names():
    assert {"token", "access_token", "session", "sid", "password", "email", "key"} <= set(DEFAULT_SENSITIVE_PARAMS)
    frame = pl.DataFrame({"v": ["token=1&x=2"]})
    assert frame.select(strip_params(pl.col("v"), ())).item() == "token=1&x=2"
    assert frame.select(strip_params(pl.col("v"), ("x",))).item() == "token=1"
    for bad in ("to ken", "a=b", "a&b", "(x)"):
        with pytest.raises(ValueError, match="FOOTFALL_SENSITIVE_PARAMS"):
            check_param_names((bad,))


def test_the_written_out_whitespace_is_what_python_strips():
    from transforms.user_agents import _PY_WHITESPACE

    assert _PY_WHITESPACE == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
