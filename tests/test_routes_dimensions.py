"""Route rules (transforms/routes.py), dimension files (transforms/models/dimensions.py) and the
settings that name the user-id and session fields: the inputs of docs/analysts/communities.md."""

from __future__ import annotations

import textwrap

import polars as pl
import pytest

from transforms.models.dimensions import DimensionError, load_dimensions, read_dimensions
from transforms.privacy import keyed_hash
from transforms.routes import Routes, RoutesConfigError
from warehouse import storage
from warehouse.settings import ConfigError, Settings

ROUTES = """
[[routes]]
page_type = "community_post"
pattern = "/communities/{community_slug}/posts/{post_id}"

[[routes]]
page_type = "community"
pattern = "/communities/{community_slug}/..."

[[routes]]
page_type = "blog_post"
pattern = "/blog/{post_id}"

[[routes]]
page_type = "profile"
pattern = "/u/{username}"

[[routes]]
page_type = "home"
pattern = "/"
"""

KEY = b"k" * 32


@pytest.fixture
def routes(tmp_path) -> Routes:
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES)
    return Routes.load(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/communities/toronto/posts/42", ("community_post", "toronto", "42")),
        ("/communities/toronto", ("community", "toronto", None)),
        ("/communities/toronto/", ("community", "toronto", None)),
        ("/communities/toronto/events/2026", ("community", "toronto", None)),
        ("/communities", (None, None, None)),
        ("/communitiesx/toronto", (None, None, None)),
        ("/blog/7", ("blog_post", None, "7")),
        ("/blog/7/", ("blog_post", None, "7")),
        ("/blog/7/comments", (None, None, None)),
        ("/BLOG/7", (None, None, None)),
        ("/u/alice", ("profile", None, None)),
        ("/", ("home", None, None)),
        ("/about", (None, None, None)),
    ],
)
def test_first_matching_route_gives_page_type_and_captures(routes, path, expected):
    frame = routes.classify(pl.Series([path, None, path]))
    assert frame.height == 1  # once per distinct non-null path
    assert frame.row(0) == (path, *expected)


def test_usernames_are_matched_but_not_stored(routes):
    assert "username" not in routes.classify(pl.Series(["/u/alice"])).columns


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[routes]]\npage_type = "x"\npattern = "/a/{user_id}"', r"unknown capture \{user_id\}"),
        ('[[routes]]\npage_type = "x"\npattern = "/a/{post_id}/{post_id}"', "appears twice"),
        ('[[routes]]\npage_type = "x"\npattern = "a/b"', "must start with '/'"),
        ('[[routes]]\npage_type = "x"\npattern = "/a/.../b"', "may only be the last segment"),
        ('[[routes]]\npage_type = "Not OK"\npattern = "/a"', "lower-case identifier"),
        ('[[routes]]\npage_type = "x"\npattern = "/a"\nweight = 2', "unexpected keys"),
        ('[[route]]\npage_type = "x"\npattern = "/a"', r"one or more \[\[routes\]\]"),
        ("[[routes]\n", "not valid TOML"),
    ],
)
def test_a_bad_routes_file_fails_with_what_to_fix(tmp_path, body, message):
    path = tmp_path / "routes.toml"
    path.write_text(body)
    with pytest.raises(RoutesConfigError, match=message):
        Routes.load(path)


def test_settings_fail_fast_on_a_missing_routes_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        Settings.from_env({"FOOTFALL_ROUTES": str(tmp_path / "nope.toml"), "FOOTFALL_DATA_DIR": str(tmp_path / "d")})


FORMAT = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$upstream_http_x_user_id"'


def test_user_and_session_fields_must_be_logged(tmp_path):
    env = {"FOOTFALL_DATA_DIR": str(tmp_path / "d"), "FOOTFALL_LOG_FORMAT": FORMAT}
    settings = Settings.from_env({**env, "FOOTFALL_USER_ID_FIELD": "$upstream_http_x_user_id"})
    assert (settings.user_id_field, settings.session_field) == ("upstream_http_x_user_id", None)
    assert Settings.from_env(env).user_id_field == "remote_user"  # the default, logged by this format
    with pytest.raises(ConfigError, match=r"FOOTFALL_SESSION_FIELD='cookie_sessionid' is not a variable"):
        Settings.from_env({**env, "FOOTFALL_SESSION_FIELD": "cookie_sessionid"})
    no_user = '$remote_addr [$time_local] "$request" $status'
    assert Settings.from_env({**env, "FOOTFALL_LOG_FORMAT": no_user}).user_id_field is None


def write_dimensions(directory, **files: str):
    directory.mkdir(exist_ok=True)
    defaults = {
        "divisions": """
            division_id,name,type,parent_id,iso_country,iso_subdivision,city_names
            ca,Canada,country,,CA,,
            on,Ontario,province,ca,CA,ON,
            tor,Toronto,city,on,CA,ON,Toronto|North York
            """,
        "communities": "community_slug,community_id,division_id\ntoronto,c1,tor\n",
        "content": "post_id,kind,owner_user_id\n42,post,alice\n",
        "users": "user_id,home_division_id\nalice,on\nbob,\n",
    }
    for name, text in {**defaults, **files}.items():
        (directory / f"{name}.csv").write_text(textwrap.dedent(text).strip() + "\n")
    return directory


def test_dimensions_load_with_hashed_user_ids_and_the_division_tree(tmp_path):
    directory = write_dimensions(tmp_path / "dims")
    con = storage.connect(tmp_path / "data")
    try:
        counts = load_dimensions(con, directory, KEY)
        assert counts == {"dim_divisions": 3, "dim_communities": 1, "dim_content": 1, "dim_users": 2}
        users = dict(con.execute("select user_hash, home_division_id from dim_users").fetchall())
        assert users == {keyed_hash(KEY, "user", "alice"): "on", keyed_hash(KEY, "user", "bob"): None}
        (owner,) = con.execute("select owner_user_hash from dim_content").fetchone()
        assert owner == keyed_hash(KEY, "user", "alice")
        ancestors = con.execute("select ancestor_id, depth from dim_division_ancestors where division_id = 'tor'")
        assert sorted(ancestors.fetchall()) == [("ca", 2), ("on", 1), ("tor", 0)]
        # No raw user id anywhere in the warehouse.
        for table in ("dim_users", "dim_content"):
            assert "alice" not in str(con.execute(f"select * from {table}").fetchall())
        # A second load replaces, not appends.
        load_dimensions(con, write_dimensions(directory, users="user_id,home_division_id\ncarol,tor\n"), KEY)
        assert con.execute("select count(*) from dim_users").fetchone() == (1,)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"communities": "community_slug,division_id\ntoronto,tor\n"}, r"missing column\(s\) community_id"),
        ({"communities": "community_slug,community_id,division_id\ntoronto,c1,mars\n"}, "names no division_id"),
        ({"users": "user_id,home_division_id\nalice,on\nalice,tor\n"}, r"duplicate user_id \['alice'\]"),
        ({"content": "post_id,kind\n,post\n"}, "row 2: post_id is empty"),
        (
            {"divisions": "division_id,name,type,parent_id,iso_country\na,A,country,b,CA\nb,B,country,a,CA\n"},
            "parent_id cycle",
        ),
    ],
)
def test_bad_dimension_files_fail_and_leave_the_previous_load(tmp_path, files, message):
    con = storage.connect(tmp_path / "data")
    try:
        load_dimensions(con, write_dimensions(tmp_path / "good"), KEY)
        with pytest.raises(DimensionError, match=message):
            load_dimensions(con, write_dimensions(tmp_path / "bad", **files), KEY)
        assert con.execute("select count(*) from dim_divisions").fetchone() == (3,)
    finally:
        con.close()


def test_parquet_dimension_files_are_read_too(tmp_path):
    directory = tmp_path / "dims"
    directory.mkdir()
    pl.DataFrame(
        {"division_id": ["de"], "name": ["Germany"], "type": ["country"], "iso_country": ["DE"]}
    ).write_parquet(directory / "divisions.parquet")
    frames = read_dimensions(directory, KEY)
    assert frames["divisions"].row(0, named=True)["iso_country"] == "DE"
    assert frames["communities"].height == 0


def test_geo_division_picks_the_most_specific_match(tmp_path):
    con = storage.connect(tmp_path / "data")
    try:
        load_dimensions(con, write_dimensions(tmp_path / "dims"), KEY)
        ask = lambda *geo: con.execute("select geo_division(?, ?, ?)", list(geo)).fetchone()[0]  # noqa: E731
        # The file says ON; events hold GeoIP's full code, and so does the loaded table.
        stored = con.execute("select iso_subdivision from dim_divisions where division_id = 'on'").fetchone()
        assert stored == ("CA-ON",)
        assert ask("CA", "CA-ON", "North York") == "tor"
        assert ask("CA", "CA-ON", "Ottawa") == "on"
        assert ask("CA", "CA-QC", "Montreal") == "ca"
        assert ask("CA", None, None) == "ca"
        assert ask("US", "NY", "New York") is None
        assert ask(None, None, None) is None
    finally:
        con.close()


def test_a_missing_dimensions_dir_fails_fast(tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        Settings.from_env({"FOOTFALL_DIMENSIONS_DIR": str(tmp_path / "nope"), "FOOTFALL_DATA_DIR": str(tmp_path / "d")})


def test_the_shipped_examples_load(tmp_path):
    from conftest import REPO

    routes = Routes.load(REPO / "config" / "routes.toml")
    assert routes.classify(pl.Series(["/communities/ontario-hikers/posts/1003"])).row(0)[1:] == (
        "community_post",
        "ontario-hikers",
        "1003",
    )
    con = storage.connect(tmp_path / "data")
    try:
        counts = load_dimensions(con, REPO / "config" / "dimensions", KEY)
        assert counts["dim_communities"] == 4
        assert con.execute("select geo_division('CA', 'CA-ON', 'Scarborough')").fetchone() == ("ca-on-toronto",)
    finally:
        con.close()


def test_check_validates_the_dimension_files(tmp_path, monkeypatch, capsys):
    from warehouse.cli import main

    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FOOTFALL_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("FOOTFALL_DIMENSIONS_DIR", str(write_dimensions(tmp_path / "dims")))
    assert main(["check"]) == 0
    write_dimensions(tmp_path / "dims", communities="community_slug,division_id\ntoronto,tor\n")
    assert main(["check"]) == 2
    assert "communities.csv: missing column(s) community_id" in capsys.readouterr().err
