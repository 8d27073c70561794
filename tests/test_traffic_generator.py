"""The demo traffic generator (demo.traffic) and its ground truth (demo.ground_truth).

The end-to-end comparison with footfall is tests/test_communities.py; this checks that the
test bed itself is sound: deterministic, its addresses really are where it says, its
crawlers are crawlers to footfall, its dimension files are consistent, its traffic holds
every case the metrics must handle, and the ground truth's rules behave on tiny records.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import re
from pathlib import Path

import geoip2.database
import geoip2.errors
import polars as pl
import pytest
from _maxminddb_geolite2 import geolite2_database

from demo import traffic
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
    is_page_view,
    match_route,
    referrer_domain,
    rounded,
)

# The division each place's addresses must resolve to, written out by hand (not computed).
EXPECTED_DIVISION = {
    "toronto": "CA-ON-TOR",
    "ottawa": "CA-ON-OTT",
    "mississauga": "CA-ON-PEEL",
    "brampton": "CA-ON-PEEL",
    "hamilton": "CA-ON",
    "montreal": "CA-QC-MTL",
    "laval": "CA-QC",
    "vancouver": "CA-BC-VAN",
    "calgary": "CA",
    "canada": "CA",
    "new_york": "US-NY-NYC",
    "buffalo": "US-NY",
    "seattle": "US-WA",
    "dallas": "US",
    "germany": "DE",
    "france": None,
    "office": None,
}
# An independent reading of the generator's log_format (nginx escapes no character it writes).
LINE = re.compile(
    r"^(?P<ip>[0-9.]+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}) \+0000\] "
    r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/1\.1" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referrer>[^"]*)" '
    r'"(?P<ua>[^"]*)" "(?P<user>[^"]*)" "(?P<session>[^"]*)"$'
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("traffic") / "seed7"
    return out, traffic.generate(out)


def read_lines(out: Path) -> list[re.Match]:
    lines = []
    for name in ("access.log.1", "access.log"):
        text = (out / "logs" / name).read_text(encoding="utf-8")
        for line in text.splitlines():
            match = LINE.match(line)
            assert match, f"{name}: line does not follow the log_format: {line!r}"
            lines.append(match)
    return lines


def read_csv(out: Path, name: str) -> list[dict[str, str]]:
    with open(out / "dimensions" / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def file_bytes(out: Path) -> dict[str, bytes]:
    # footfall.env holds absolute paths: compared with the directory name taken out.
    return {
        str(p.relative_to(out)): p.read_bytes().replace(str(out.resolve()).encode(), b"OUT")
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


# -- determinism --------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_another_seed_other_traffic(generated, tmp_path):
    out, _ = generated
    again = traffic.generate(tmp_path / "again")
    other = traffic.generate(tmp_path / "other", seed=8)
    expected = file_bytes(out)
    assert set(expected) == {
        "footfall.env",
        "ground_truth.json",
        "routes.toml",
        "logs/access.log",
        "logs/access.log.1",
        "dimensions/divisions.csv",
        "dimensions/communities.csv",
        "dimensions/content.csv",
        "dimensions/users.csv",
    }
    assert file_bytes(tmp_path / "again") == expected
    different = file_bytes(tmp_path / "other")
    for name in ("logs/access.log", "logs/access.log.1", "ground_truth.json", "dimensions/users.csv"):
        assert different[name] != expected[name], name
    assert other.human_hits != again.human_hits


# -- the log files ------------------------------------------------------------------------------


def test_log_lines_follow_the_format_in_time_order_and_are_the_ground_truths_hits(generated):
    out, truth = generated
    lines = read_lines(out)
    assert 15_000 < len(lines) < 60_000
    for name in ("access.log.1", "access.log"):
        stamps = [
            dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S")
            for m in map(LINE.match, (out / "logs" / name).read_text().splitlines())
        ]
        assert stamps == sorted(stamps), f"{name} is not in time order"
    days = {dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S").date() for m in lines}
    assert min(days) == dt.date(2026, 9, 17) and max(days) == dt.date(2026, 10, 31) and len(days) == 45
    human = [m for m in lines if m["ua"] not in traffic.NON_HUMAN_AGENTS]
    assert len(human) == len(truth.human_hits)
    # Empty values are "-", as nginx logs them; both header and cookie are sometimes empty.
    assert {m["user"] == "-" for m in human} == {True, False}
    assert {m["session"] == "-" for m in human} == {True, False}


def test_footfall_env_is_shell_sourceable_and_names_the_generated_files(generated):
    import subprocess

    out, _ = generated
    script = f"set -a; . {out / 'footfall.env'}; set +a; env -0"
    env = dict(
        item.split("=", 1)
        for item in subprocess.run(["bash", "-c", script], capture_output=True, check=True, env={})
        .stdout.decode()
        .split("\0")
        if "=" in item
    )
    assert env["FOOTFALL_LOG_FORMAT"] == traffic.LOG_FORMAT
    assert env["FOOTFALL_USER_ID_FIELD"] == "upstream_http_x_user_id"
    assert env["FOOTFALL_SESSION_FIELD"] == "cookie_sessionid"
    assert env["FOOTFALL_TIMEZONE"] == "UTC"
    assert sorted(glob.glob(env["FOOTFALL_LOG_GLOB"])) == [
        str((out / "logs" / name).resolve()) for name in ("access.log", "access.log.1")
    ]
    assert Path(env["FOOTFALL_ROUTES"]).read_text().count("[[routes]]") == len(traffic.ROUTES)
    assert Path(env["FOOTFALL_DIMENSIONS_DIR"]) == (out / "dimensions").resolve()


# -- addresses, user agents, dimensions ----------------------------------------------------------


def test_every_address_is_where_the_generator_says(generated):
    out, truth = generated
    used = {m["ip"] for m in read_lines(out)}
    with geoip2.database.Reader(geolite2_database()) as reader:

        def located(address: str) -> Location:
            try:
                r = reader.city(address)
            except geoip2.errors.AddressNotFoundError:
                return Location(None, None, None)
            return Location(r.country.iso_code, r.subdivisions[0].iso_code if r.subdivisions else None, r.city.name)

        assert used <= set(truth.locations)
        pools = traffic.find_addresses(7, 40)
        assert set(pools) == set(EXPECTED_DIVISION)
        for name, found in pools.items():
            assert len(found) == 40
            for address, location in found.items():
                assert located(address) == location, address
                assert truth.resolve(location) == EXPECTED_DIVISION[name], (name, address, location)
        for address in used:
            assert located(address) == truth.locations[address], address


def test_crawlers_are_crawlers_and_browsers_are_people_to_footfall():
    from transforms.user_agents import UserAgentClassifier

    agents = [ua for ua, _ in traffic.BROWSERS] + sorted(traffic.NON_HUMAN_AGENTS)
    classified = UserAgentClassifier().classify(pl.Series(agents))
    verdicts = {
        ua: (crawler, device)
        for ua, crawler, device in classified.select("user_agent", "is_crawler", "device_type").rows()
    }
    for ua, device in traffic.BROWSERS:
        assert verdicts[ua] == (False, device), ua
    for ua in traffic.NON_HUMAN_AGENTS:
        assert verdicts[ua][0], ua


def test_dimension_files_are_consistent_with_each_other_and_with_the_paths(generated):
    out, truth = generated
    divisions = read_csv(out, "divisions")
    assert list(divisions[0]) == [
        "division_id",
        "name",
        "type",
        "parent_id",
        "iso_country",
        "iso_subdivision",
        "city_names",
    ]
    ids = [d["division_id"] for d in divisions]
    assert len(ids) == len(set(ids))
    assert all(d["parent_id"] in ids for d in divisions if d["parent_id"])
    assert all(d["iso_country"] and d["name"] and d["type"] for d in divisions)
    communities = read_csv(out, "communities")
    assert list(communities[0]) == ["community_slug", "community_id", "division_id"]
    assert all(c["division_id"] in ids for c in communities)
    content = read_csv(out, "content")
    assert list(content[0]) == ["post_id", "kind", "owner_user_id"]
    users = read_csv(out, "users")
    assert list(users[0]) == ["user_id", "home_division_id"]
    assert all(u["home_division_id"] in ids for u in users if u["home_division_id"])
    assert any(not u["home_division_id"] for u in users) and any(u["home_division_id"] for u in users)

    slugs, posts = {c["community_slug"] for c in communities}, {p["post_id"] for p in content}
    user_ids = {u["user_id"] for u in users}
    seen_users = set()
    for m in read_lines(out):
        seen_users.add(m["user"])
        matched = match_route(truth.dimensions.routes, m["target"].split("?")[0])
        if m["status"].startswith("2") and matched:
            captures = matched[1]
            assert captures.get("community_slug", "toronto") in slugs, m["target"]
            assert captures.get("post_id", "101") in posts, m["target"]
    seen_users.discard("-")
    assert seen_users - user_ids, "some signed-in users are absent from users.csv (GeoIP decides)"
    assert {p["owner_user_id"] for p in content} <= {str(n) for n in range(1001, 1121)}


# -- the traffic holds every case ---------------------------------------------------------------


def test_ground_truth_invariants_that_the_traffic_must_exercise(generated):
    _, truth = generated
    daily = truth.community_daily()
    assert daily
    for row in daily:
        assert row["visitors"] == row["signed_in_visitors"] + row["anonymous_visitors"]
        assert row["visitors"] == (
            row["same_division_visitors"] + row["cross_division_visitors"] + row["unknown_division_visitors"]
        )
    assert any(r["same_division_visitors"] and r["cross_division_visitors"] for r in daily)
    assert sum(r["unknown_division_visitors"] for r in daily) > 0
    assert {r["community_slug"] for r in daily} == {c.community_slug for c in traffic.COMMUNITIES}

    first, newest = truth.days()[0], truth.newest_day()
    stats = truth.visitor_stats(first, newest)[0]
    assert stats["visitors"] == stats["signed_in_visitors"] + stats["anonymous_visitors"]
    # A signed-in user is one visitor over the range, an anonymous one a visitor per day.
    assert stats["signed_in_visitors"] <= 120 < stats["anonymous_visitors"]
    per_day_signed_in = sum(truth.visitor_stats(d, d)[0]["signed_in_visitors"] for d in truth.days())
    assert per_day_signed_in > 3 * stats["signed_in_visitors"]

    conversions = truth.conversions_daily()
    assert sum(r["conversions"] for r in conversions) >= 30
    assert all(r["avg_seconds_to_conversion"] > 0 for r in conversions if r["conversions"])

    # Owners read their own posts; those views are in the page views but not in content views.
    owner_views = [pv for pv in truth.page_views if pv.post_id and pv.visitor == ("user", truth.owners[pv.post_id])]
    assert len(owner_views) >= 20
    # ...some of them before the owner signed in (the session's anonymous start is theirs too).
    owners_before_sign_in = [
        h
        for h in truth.human_hits
        if is_page_view(h)
        and h.user_id is None
        and (post := match_route(truth.dimensions.routes, h.path))
        and "post_id" in post[1]
        and truth.visitor(h) == ("user", truth.owners[post[1]["post_id"]])
    ]
    assert owners_before_sign_in
    post_views = sum(1 for pv in truth.page_views if pv.post_id)
    summary = truth.content_views_summary()
    assert sum(r["views"] for r in summary) == post_views - len(owner_views)
    for row in summary:
        assert row["views"] == row["signed_in_views"] + row["anonymous_views"] >= row["unique_viewers"] > 0

    demographics = {r["division_type"]: r["visitors"] for r in truth.demographics(first, newest)}
    assert {"city", "province", "country", "state", "region", "Unknown"} <= set(demographics)
    flows = truth.cross_division_flows(first, newest)
    assert any(f["to_division_id"] == "CA-ON-TOR" for f in flows)
    # No flow from inside the community's division (Toronto -> Ontario is same-division).
    assert not any(f["from_division_id"] == "CA-ON-TOR" and f["to_division_id"] in ("CA-ON", "CA") for f in flows)

    # Sessions that change address, and crawlers, are in the records.
    by_session = {}
    for hit in truth.human_hits:
        if hit.session_id:
            by_session.setdefault(hit.session_id, set()).add(hit.ip)
    assert sum(1 for ips in by_session.values() if len(ips) > 1) >= 5
    assert len(truth.human_hits) < sum(1 for _ in traffic._log_lines(generated[0]))

    peaks = {(r["day"], r["community_slug"]): r["peak_visitors"] for r in truth.peak_visitors_daily()}
    assert peaks[(newest, "(all)")] >= 10 and peaks[(newest, "toronto")] >= 8
    current = {r["community_slug"]: r["visitors"] for r in truth.current_visitors()}
    assert current["(all)"] >= 5 and current["(all)"] >= current.get("toronto", 0) > 0


# -- the ground truth's rules on tiny records ---------------------------------------------------

T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
CHROME = traffic.BROWSERS[0][0]
TINY = Dimensions(
    divisions=(
        Division("CA", "Canada", "country", None, "CA", None, ()),
        Division("ON", "Ontario", "province", "CA", "CA", "ON", ()),
        Division("TOR", "Toronto", "city", "ON", "CA", "ON", ("Toronto",)),
        Division("TOR2", "Toronto too", "city", "ON", "CA", "ON", ("Toronto",)),
    ),
    communities=(Community("toronto", "1", "TOR"), Community("ontario", "2", "ON")),
    content=(Post("7", "community_post", "alice"),),
    users=(User("alice", None), User("bob", "ON")),
    routes=traffic.ROUTES,
)
PLACES = {
    "1.1.1.1": Location("CA", "ON", "Toronto"),
    "2.2.2.2": Location("CA", "ON", "Hamilton"),
    "3.3.3.3": Location("CA", "AB", "Calgary"),
    "4.4.4.4": Location("FR", None, "Paris"),
    "10.0.0.1": Location(None, None, None),
}


def hit(seconds: int, path: str, *, ip="1.1.1.1", user=None, session=None, method="GET", status=200, ua=CHROME):
    return Hit(T0 + dt.timedelta(seconds=seconds), ip, method, path, status, 10, None, ua, user, session)


def tiny(*hits: Hit) -> GroundTruth:
    return GroundTruth(list(hits), TINY, PLACES, frozenset({"bot"}), {CHROME: "desktop"})


def test_a_session_that_signs_in_is_one_signed_in_visitor_including_its_anonymous_hits():
    truth = tiny(
        hit(0, "/communities/toronto", session="s1"),
        hit(10, "/login", method="POST", status=302, user="alice", session="s1"),
        hit(20, "/communities/toronto/posts/7", session="s1", user="alice"),
        hit(30, "/communities/toronto", ip="2.2.2.2"),  # anonymous, no cookie
        hit(40, "/communities/toronto", ip="2.2.2.2", ua="bot"),  # a crawler: nobody
        hit(50, "/communities/toronto/app.js", session="s2"),  # an asset: not a page view
    )
    day = T0.date()
    assert truth.visitor_stats(day, day)[0] == {
        "visitors": 2,
        "signed_in_visitors": 1,
        "anonymous_visitors": 1,
        "signed_in_pct": 50.0,
        "page_views": 3,
        "page_views_per_visitor": 1.5,
    }
    # s1 and s2 have anonymous hits, and so has the cookieless address; s1 converts after 10 s.
    assert truth.conversions_daily() == [
        {
            "day": day,
            "sessions_with_anonymous_hits": 3,
            "conversions": 1,
            "conversion_rate_pct": 33.33,
            "avg_seconds_to_conversion": 10.0,
            "seconds_to_conversion": 10.0,
        }
    ]
    # alice owns post 7: her view is excluded even though her session started anonymous.
    assert truth.content_views_summary() == []
    row = truth.community_daily()[0]
    assert (row["same_division_visitors"], row["cross_division_visitors"]) == (1, 1)  # Toronto; Hamilton -> ON


def test_visitor_division_rules():
    truth = tiny()
    assert truth.resolve(Location("CA", "ON", "Toronto")) == "TOR"  # two city matches: smallest id
    assert truth.resolve(Location("CA", "ON", "Hamilton")) == "ON"
    assert truth.resolve(Location("CA", "AB", "Calgary")) == "CA"
    assert truth.resolve(Location("FR", None, "Paris")) is None
    assert truth.resolve(Location(None, None, None)) is None
    assert truth.inside("TOR", "CA") and truth.inside("ON", "ON") and not truth.inside("ON", "TOR")
    # Home division first; else the earliest page view of the range decides.
    truth = tiny(
        hit(0, "/", ip="3.3.3.3", user="bob", session="b"),
        hit(0, "/", ip="3.3.3.3", user="carol", session="c"),
        hit(86_400, "/", ip="1.1.1.1", user="carol", session="c2"),
        hit(86_500, "/", ip="4.4.4.4", user="carol", session="c2"),
    )
    day = T0.date()
    assert truth.visitor_divisions(day, day + dt.timedelta(days=1)) == {("user", "bob"): "ON", ("user", "carol"): "CA"}
    assert truth.visitor_divisions(day + dt.timedelta(days=1), day + dt.timedelta(days=1)) == {("user", "carol"): "TOR"}


def test_routes_page_view_rule_referrers_and_rounding():
    routes = traffic.ROUTES
    assert match_route(routes, "/communities/toronto/posts/7/") == ("community_post", {"community_slug": "toronto",
                                                                                        "post_id": "7"})  # fmt: skip
    assert match_route(routes, "/communities/toronto") == ("community", {"community_slug": "toronto"})
    assert match_route(routes, "/communities/toronto/events/2026") == ("community", {"community_slug": "toronto"})
    assert match_route(routes, "/communities/") is None
    assert match_route(routes, "/users/u1001") == ("profile", {"username": "u1001"})
    assert match_route((Route("x", "/Blog/{post_id}"),), "/blog/1") is None
    assert referrer_domain("https://WWW.Reddit.com:443/r/x") == "reddit.com"
    assert referrer_domain("android-app://com.google.android.gm/") is None
    assert referrer_domain(None) is None
    assert rounded(1, 32, 2, 100) == 3.13  # 3.125: half away from zero, not to even
    assert rounded(1, 3, 2, 100) == 33.33 and rounded(2, 3, 1) == 0.7 and rounded(1, 0, 2) is None


def test_peak_is_the_most_distinct_visitors_in_any_five_minutes():
    truth = tiny(
        hit(0, "/communities/toronto", ip="1.1.1.1"),
        hit(100, "/communities/toronto", ip="2.2.2.2"),
        hit(299, "/communities/ontario", ip="3.3.3.3"),
        hit(300, "/communities/toronto", ip="4.4.4.4"),  # [0, 300) excludes it; [100, 400) has 3
        hit(350, "/communities/toronto", ip="2.2.2.2"),
    )
    peaks = {r["community_slug"]: (r["peak_visitors"], r["window_start"]) for r in truth.peak_visitors_daily()}
    start = T0.replace(tzinfo=None)
    assert peaks == {
        "(all)": (3, start),
        "toronto": (2, start),
        "ontario": (1, start + dt.timedelta(seconds=299)),
    }
    newest = start + dt.timedelta(seconds=350)
    assert truth.current_visitors() == [
        {"community_slug": "(all)", "window_end": newest, "visitors": 3},
        {"community_slug": "ontario", "window_end": newest, "visitors": 1},
        {"community_slug": "toronto", "window_end": newest, "visitors": 2},
    ]
