"""User agent -> browser, OS, device type and crawler flag, once per distinct user agent.

Three sources, combined:

* **ua-parser** (uap-core's ``regexes.yaml``) through its fast 1.0 API with the native
  ``ua-parser-rs`` resolver (~30-85 us per user agent; the legacy ``user_agent_parser.Parse``
  that ``user_agents.parse`` calls costs ~0.7-1.9 ms). Its result is fed into the
  **user-agents** library's own ``UserAgent`` class, so the device heuristics
  (``is_mobile``, ``is_tablet``, ``is_pc``, ``is_bot``) are that library's, not a copy.
  Known difference: ua-parser-rs treats uap-core's ``.{0,100}``-style bounded repetitions
  (upper bound >= 100) as unbounded, because uap-core added them only against catastrophic
  backtracking (https://github.com/ua-parser/uap-core/issues/596). A few crawler tokens past
  character 100 of a long user agent (``slurp``, ``Applebot``, ``360Spider``) are therefore
  recognised as ``Spider`` here and missed by the legacy parser.
* **crawlerdetect** (JayBizzle's Crawler-Detect list, ported): its pattern data evaluated
  column-wise with polars' Rust regex engine, with exactly crawlerdetect's semantics
  (whitespace stripped, exclusions removed first, case-insensitive, nothing left = not a
  crawler; the match text is the crawler name). Patterns Rust's regex cannot compile (look-
  around, e.g. ``Yandex(?!Search)``) are found generically at start-up, and user agents they
  could match are decided by crawlerdetect's own Python regexes, as are the rare user agents
  where the two engines can differ (non-ASCII text: case folding; line breaks: ``$``).
* :data:`NON_BROWSER_RULES` and the operator's ``FOOTFALL_CRAWLER_PATTERNS``: clients that are
  not people with browsers (package managers, download tools, monitors, feed readers, an
  empty user agent).

A user agent is a crawler (non-human) when any of them says so; its ``device_type`` is then
``bot``. Nothing here runs per log line: :meth:`UserAgentClassifier.classify` takes distinct
user agents, and remembers them for the life of the process.
"""

from __future__ import annotations

import re
import threading
from functools import cache

import polars as pl
import ua_parser
import user_agents.parsers as ua_heuristics
from crawlerdetect.providers.crawlers import data as CRAWLERDETECT_PATTERNS
from crawlerdetect.providers.exclusions import data as CRAWLERDETECT_EXCLUSIONS

# The columns classify() adds, with their types.
UA_SCHEMA: dict[str, pl.DataType] = {
    "browser_family": pl.String(),
    "browser_major": pl.String(),
    "os_family": pl.String(),
    "device_type": pl.String(),
    "is_crawler": pl.Boolean(),
    "crawler_name": pl.String(),
}

DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot", "other")

# Clients that are not a person with a browser, beyond what ua-parser and crawlerdetect
# recognise: (crawler_name, pattern). Patterns are matched case-insensitively against the user
# agent with surrounding whitespace removed, in Rust regex syntax. The first match names it.
NON_BROWSER_RULES: tuple[tuple[str, str], ...] = (
    # Every browser sends a User-Agent header; none (logged as "-") or an empty one is a script.
    ("empty user agent", r"^-?$"),
    # Command-line HTTP clients and their libraries (also in crawlerdetect; kept here so the
    # rule does not depend on that list's version).
    ("curl", r"^curl/|\blibcurl/"),
    ("Wget", r"^wget/"),
    # Package managers fetching packages and indexes: most of nginx_logs. APT (Debian, Ubuntu):
    ("APT", r"\bAPT-(?:HTTP|CURL)/"),
    # Apt-Cacher-NG: a caching proxy that downloads on behalf of APT clients.
    ("Apt-Cacher-NG", r"\bApt-Cacher"),
    # yum (RHEL, CentOS) downloads through urlgrabber: "urlgrabber/3.9.1 yum/3.2.29".
    ("yum", r"^urlgrabber/|\byum/"),
    # dnf, yum's successor (Fedora, RHEL 8+).
    ("dnf", r"^(?:lib)?dnf/"),
    ("pip", r"^pip/"),
    ("npm", r"^npm/"),
    ("Homebrew", r"^Homebrew \d"),
    # Configuration management tools downloading packages and cookbooks (Chef's client and
    # its "knife" command line).
    ("Chef", r"^Chef (?:Client|Knife)/"),
    ("Ansible", r"^ansible-httpget"),
    # Axel: a command-line download accelerator (like wget).
    ("Axel", r"^Axel \d"),
    # Uptime monitors request the same URL every few minutes, around the clock.
    ("Jetpack uptime monitor", r"^jetmon/"),
    ("Pingdom", r"Pingdom"),
    ("UptimeRobot", r"UptimeRobot"),
    # Feed readers and aggregators poll feeds on a schedule, not on a person's click.
    ("FeedBurner", r"FeedBurner"),
    ("Feedfetcher-Google", r"Feedfetcher-Google"),
    ("Tiny Tiny RSS", r"Tiny Tiny RSS"),
    ("UniversalFeedParser", r"UniversalFeedParser"),
    # HTTP client libraries seen in the wordpress log (XML-RPC brute force, pingbacks):
    # XML-RPC.NET, Ararat Synapse (Delphi), and the old JRE default "Java1.4.2_03".
    ("XML-RPC.NET", r"^XML-RPC\.NET"),
    ("Synapse", r"\(compatible; Synapse\)"),
    ("Java", r"^Java\d"),
    # A program that formatted a missing value into the header ("None" is 11 hits in nginx_logs).
    ("placeholder value", r"^(?:None|null|undefined)$"),
    # A bare "Mozilla/4.0 (compatible;)", "Mozilla/5.0", "Mozilla" or "gecko" with no platform
    # or engine is never what a browser sends; scripts use it as a disguise.
    ("bare Mozilla token", r"^(?:mozilla(?:/\d+(?:\.\d+)*)?|gecko)(?: \(compatible;?\))?$"),
)

_ENV_PATTERNS = "FOOTFALL_CRAWLER_PATTERNS"
# Python's str.strip() removes these (crawlerdetect strips with it); polars' default differs.
# Written out: computing them (isspace() of every code point) took about 50 ms at import,
# in every parse task process. tests/test_enrichment.py checks the list against Python's.
_PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Patterns per Rust regex: one regex of all ~1,500 is slow (its lazy DFA thrashes, ~70 us per
# user agent); 100 per regex is ~2 us (measured on the three shared logs).
_CHUNK = 100
# The in-process cache is dropped when it grows past this many user agents (bounds memory).
MAX_CACHED = 500_000


def _compiles_in_polars(pattern: str) -> str | None:
    """None if polars' regex engine accepts ``pattern``, else its error message."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.ComputeError as exc:
        return str(exc)
    return None


def _polars_accepts(patterns: list[str]) -> list[bool]:
    """Whether polars' regex engine accepts each pattern, decided in one call.

    Same answers as :func:`_compiles_in_polars` pattern by pattern, in a quarter of the time:
    crawlerdetect's ~1,500 patterns took ~0.65 s of CPU one call each, in every process that
    classifies user agents (each parse task), and ~0.15 s in one.
    """
    frame = pl.DataFrame(
        {"text": [""] * len(patterns), "pattern": patterns}, schema={"text": pl.String, "pattern": pl.String}
    )
    # strict=False: a pattern that does not compile gives null instead of failing the call.
    accepted = frame.select(pl.col("text").str.contains(pl.col("pattern"), strict=False).is_not_null())
    return accepted.to_series().to_list()


class _CrawlerDetect:
    """crawlerdetect's ``is_crawler`` + ``get_matches``, column-wise.

    CrawlerDetect._check_crawler: ``agent = exclusions.sub("", ua.strip())``; empty agent -> not
    a crawler; else the first alternative of ``(p1|p2|...)`` (re.IGNORECASE) found by a
    leftmost-first search is the match. Split into chunks, the overall match is the leftmost
    one, ties going to the earlier chunk: exactly what one alternation would find.
    """

    def __init__(self, crawlers: list[str], exclusions: list[str]) -> None:
        accepted = _polars_accepts([f"(?i){p}" for p in crawlers + exclusions])
        crawler_ok = dict(zip(crawlers, accepted[: len(crawlers)], strict=True))
        exclusion_ok = dict(zip(exclusions, accepted[len(crawlers) :], strict=True))
        fast_crawlers = [p for p in crawlers if crawler_ok[p]]
        fast_exclusions = [p for p in exclusions if exclusion_ok[p]]
        slow = [p for p in crawlers if not crawler_ok[p]]
        slow_excl = [p for p in exclusions if not exclusion_ok[p]]
        self.chunks = [
            "(?i)(" + "|".join(fast_crawlers[i : i + _CHUNK]) + ")" for i in range(0, len(fast_crawlers), _CHUNK)
        ]
        self.exclusions = "(?i)(?:" + "|".join(fast_exclusions) + ")" if fast_exclusions else None
        # Python regexes: crawlerdetect's own, for user agents the Rust regexes cannot decide.
        self.py_crawlers = re.compile("(" + "|".join(crawlers) + ")", re.IGNORECASE)
        self.py_exclusions = re.compile("(" + "|".join(exclusions) + ")", re.IGNORECASE)
        self.py_slow = re.compile("|".join(slow), re.IGNORECASE) if slow else None
        self.py_slow_exclusions = re.compile("|".join(slow_excl), re.IGNORECASE) if slow_excl else None
        self.python_only = tuple(slow + slow_excl)

    def _python(self, stripped: str) -> str | None:
        agent = self.py_exclusions.sub("", stripped)
        if not agent:
            return None
        m = self.py_crawlers.search(agent)
        return m.group(1) if m else None

    def matches(self, stripped: pl.Series) -> pl.Series:
        """The crawler match text per user agent (whitespace already stripped), null if none."""
        frame = stripped.rename("s").to_frame()
        agent = pl.col("s").str.replace_all(self.exclusions, "") if self.exclusions else pl.col("s")
        frame = frame.with_columns(agent.alias("agent"))
        chunk_hits = [f"_c{i}" for i in range(len(self.chunks))]
        frame = frame.with_columns(
            pl.col("agent").str.contains(p).alias(c) for c, p in zip(chunk_hits, self.chunks, strict=True)
        )
        hit = (pl.col("s") != "") & (pl.col("agent") != "") & pl.any_horizontal(chunk_hits)
        found = frame.filter(hit)
        # Position and text of the match, only in the chunks that matched (capture-group
        # searches with 100 alternatives cost ~2 us each): leftmost wins, then the earlier chunk.
        parts = [pl.DataFrame(schema={"s": pl.String, "_pos": pl.UInt32, "_chunk": pl.Int32, "name": pl.String})]
        for i, p in enumerate(self.chunks):
            part = found.filter(pl.col(f"_c{i}"))
            if part.height:
                parts.append(
                    part.select(
                        "s",
                        pl.col("agent").str.find(p).cast(pl.UInt32).alias("_pos"),
                        pl.lit(i, pl.Int32).alias("_chunk"),
                        pl.col("agent").str.extract(p, 1).alias("name"),
                    )
                )
        best = pl.concat(parts).group_by("s").agg(pl.col("name").sort_by("_pos", "_chunk").first())
        result = frame.select("s").join(best, on="s", how="left", maintain_order="left")["name"]
        # Decided by crawlerdetect's own Python regexes: user agents a Python-only pattern could
        # match, and the few where Python's re and Rust's regex may disagree: non-ASCII text
        # (re.IGNORECASE folds e.g. "İ" to "i", Rust does not) and line breaks ($ matches before
        # a final "\n" in re). ~1 us per user agent to check, ~300 us for each one decided.
        python = frame.select(pl.col("s").str.contains(r"[^\x00-\x7F]|\n").fill_null(False)).to_series()
        if self.python_only or python.any():
            agents, names, flags = frame["agent"].to_list(), result.to_list(), python.to_list()
            for i, (s, agent) in enumerate(zip(stripped.to_list(), agents, strict=True)):
                if (
                    flags[i]
                    or (self.py_slow_exclusions and self.py_slow_exclusions.search(s))
                    or (self.py_slow and self.py_slow.search(agent))
                ):
                    names[i] = self._python(s) if s else None
            result = pl.Series("name", names, dtype=pl.String)
        return result


@cache
def _crawlerdetect() -> _CrawlerDetect:
    return _CrawlerDetect(list(CRAWLERDETECT_PATTERNS), list(CRAWLERDETECT_EXCLUSIONS))


@cache
def _ua_parser() -> ua_parser.Parser:
    # No cache layer: UserAgentClassifier caches per distinct user agent itself.
    return ua_parser.Parser(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins()))


class FastUserAgent(ua_heuristics.UserAgent):
    """user-agents' ``UserAgent`` built from a ua-parser 1.0 :class:`ua_parser.Result`.

    ``__init__`` builds the dict the legacy ``ua_parser.user_agent_parser.Parse`` returns
    (``Result.with_defaults()``: failed domains become family ``Other``) and then does what
    ``UserAgent.__init__`` does with it; every property (``is_mobile``, ``is_tablet``,
    ``is_pc``, ``is_bot``, ...) is the library's.
    """

    def __init__(self, user_agent_string: str, result: ua_parser.Result | None = None) -> None:
        r = (result or _ua_parser().parse(user_agent_string)).with_defaults()
        ua_dict = {
            "user_agent": {"family": r.user_agent.family, "major": r.user_agent.major,
                           "minor": r.user_agent.minor, "patch": r.user_agent.patch},
            "os": {"family": r.os.family, "major": r.os.major, "minor": r.os.minor,
                   "patch": r.os.patch, "patch_minor": r.os.patch_minor},
            "device": {"family": r.device.family, "brand": r.device.brand, "model": r.device.model},
        }  # fmt: skip
        self.ua_string = user_agent_string
        # The major version as ua-parser gives it (parse_browser turns digits into ints).
        self.browser_major = r.user_agent.major
        self.os = ua_heuristics.parse_operating_system(**ua_dict["os"])
        self.browser = ua_heuristics.parse_browser(**ua_dict["user_agent"])
        self.device = ua_heuristics.parse_device(**ua_dict["device"])


def device_type(ua: ua_heuristics.UserAgent, is_crawler: bool) -> str:
    """One of :data:`DEVICE_TYPES`: ``bot`` for any crawler, then user-agents' tablet, mobile,
    PC tests in that order (tablet first: an Android tablet is not "mobile" there either)."""
    if is_crawler or ua.is_bot:
        return "bot"
    if ua.is_tablet:
        return "tablet"
    if ua.is_mobile:
        return "mobile"
    if ua.is_pc:
        return "desktop"
    return "other"


class UserAgentClassifier:
    """Classifies distinct user agents, remembering each for the life of the process.

    Thread-safe: one instance can serve the parse threads of a task.

    Args:
        extra_crawler_patterns: the operator's ``FOOTFALL_CRAWLER_PATTERNS``, regular
            expressions (Rust regex syntax: no look-around or backreferences) matched
            case-insensitively against the user agent; a match marks a crawler named by the
            pattern itself.

    Raises:
        ValueError: a pattern does not compile; the message names FOOTFALL_CRAWLER_PATTERNS.
    """

    def __init__(self, extra_crawler_patterns: tuple[str, ...] = ()) -> None:
        if isinstance(extra_crawler_patterns, str):
            extra_crawler_patterns = (extra_crawler_patterns,)
        for pattern in extra_crawler_patterns:
            error = _compiles_in_polars(f"(?i){pattern}") if pattern else "empty pattern"
            if error is not None:
                raise ValueError(
                    f"{_ENV_PATTERNS}: {pattern!r} is not a valid regular expression "
                    f"(Rust regex syntax, no look-around or backreferences): {error.splitlines()[-1]}"
                )
        self.extra_crawler_patterns = tuple(extra_crawler_patterns)
        self._lock = threading.Lock()
        self._known = pl.DataFrame(schema={"_key": pl.String, **UA_SCHEMA})

    def classify(self, user_agents: pl.Series) -> pl.DataFrame:
        """Classify user agents.

        Args:
            user_agents: distinct user-agent strings (String; nulls allowed, a missing user
                agent). Duplicates are tolerated.

        Returns:
            One row per input value, in input order: ``user_agent`` (the input) and the
            :data:`UA_SCHEMA` columns. ``browser_family`` / ``os_family`` are ua-parser's
            families (``Other`` when unknown); ``browser_major`` is null when unknown;
            ``device_type`` is one of :data:`DEVICE_TYPES`; ``crawler_name`` is null for
            people, otherwise ua-parser's family when it says ``Spider``, else crawlerdetect's
            match text, else the matching extra pattern, else the :data:`NON_BROWSER_RULES` name.
        """
        frame = pl.DataFrame({"user_agent": user_agents.cast(pl.String)}).with_columns(
            # crawlerdetect and ua-parser see the user agent without surrounding whitespace, and
            # a missing one as empty: both classify the same.
            pl.col("user_agent").fill_null("").str.strip_chars(_PY_WHITESPACE).alias("_key")
        )
        with self._lock:
            known = self._known
        missing = frame.select("_key").unique().join(known.select("_key"), on="_key", how="anti")
        if missing.height:
            fresh = self._classify_new(missing.get_column("_key"))
            with self._lock:
                fresh = fresh.join(self._known.select("_key"), on="_key", how="anti")
                if self._known.height + fresh.height > MAX_CACHED:
                    self._known = self._known.clear()
                self._known = pl.concat([self._known, fresh])
                known = self._known
        return frame.join(known, on="_key", how="left", maintain_order="left").select("user_agent", *UA_SCHEMA)

    def _classify_new(self, keys: pl.Series) -> pl.DataFrame:
        """Classify distinct stripped user agents not seen before (no nulls)."""
        s = pl.col("_key")
        rules = [pl.when(s.str.contains(f"(?i){p}")).then(pl.lit(name)) for name, p in NON_BROWSER_RULES]
        extra = [pl.when(s.str.contains(f"(?i){p}")).then(pl.lit(p)) for p in self.extra_crawler_patterns]
        crawlerdetect_names = _crawlerdetect().matches(keys).alias("_cd")
        rule_names = pl.coalesce(*extra, *rules, pl.lit(None, pl.String)).alias("_rule")
        frame = keys.rename("_key").to_frame().with_columns(crawlerdetect_names, rule_names)
        parser = _ua_parser()
        rows = []
        for key, cd, rule in frame.iter_rows():
            ua = FastUserAgent(key, parser.parse(key))
            name = cd or rule
            if ua.is_bot:
                name = ua.browser.family if ua.browser.family != "Other" else (name or "Other")
            crawler = name is not None
            rows.append((ua.browser.family, ua.browser_major, ua.os.family, device_type(ua, crawler), crawler, name))
        out = pl.DataFrame(rows, schema=UA_SCHEMA, orient="row")
        return pl.concat([frame.select("_key"), out], how="horizontal")
