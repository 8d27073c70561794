"""The SQL of the analytics API: one file per query in ``analytics/sql/``, run on a snapshot cursor.

Every table the queries read is named here, in :data:`TABLES`, and written ``{name}`` in the
``.sql`` files: renaming an aggregate table is one line here. Views and table macros
(``visitor_stats``, ``trends``, ``post_views_counted``...) are the warehouse's own SQL API,
defined in ``warehouse/views/``. Values are always bound as ``$name`` parameters, never
formatted into the text.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).with_name("sql")

# Logical name -> table in the snapshot. The only place the API names tables.
TABLES: dict[str, str] = {
    "daily_traffic": "daily_traffic",
    "traffic_hourly": "traffic_hourly",
    "page_daily": "page_daily",
    "entry_pages_daily": "entry_pages_daily",
    "referrers_daily": "referrers_daily",
    "countries_daily": "countries_daily",
    "devices_daily": "devices_daily",
    "status_daily": "status_daily",
    "error_paths_daily": "error_paths_daily",
    "bots_daily": "bots_daily",
    "conversions_daily": "conversions_daily",
    "peak_visitors_daily": "peak_visitors_daily",
    "visitor_daily": "visitor_daily",
    "visitor_hourly": "visitor_hourly",
    "dim_communities": "dim_communities",
    "dim_divisions": "dim_divisions",
    "dim_content": "dim_content",
    "dim_division_ancestors": "dim_division_ancestors",
}
# Pieces of SQL written once and pasted where a query writes ``{name}``: a predicate or a
# subquery, not queries of their own. Each may use the ones before it.
FRAGMENTS = ("event_filter", "matching_visits", "trend_periods")
_PARAM_RE = re.compile(r"\$([A-Za-z_]\w*)")


def _load() -> dict[str, str]:
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(SQL_DIR.glob("*.sql"))}
    names = dict(TABLES)
    for fragment in FRAGMENTS:
        # On lines of their own: the fragment's comments end at its last line, not at the ")".
        names[fragment] = "(\n" + texts.pop(fragment).format_map(names) + "\n)"
    return {name: text.format_map(names) for name, text in texts.items()}


QUERIES = _load()


def rows(cur: duckdb.DuckDBPyConnection, name: str, **params) -> list[dict]:
    """Run query ``name`` (``analytics/sql/<name>.sql``) with the ``$`` parameters it uses.

    Returns:
        One dict per row, keyed by column name.
    """
    sql = QUERIES[name]
    used = set(_PARAM_RE.findall(sql))
    cursor = cur.execute(sql, {k: v for k, v in params.items() if k in used})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def columns(cur: duckdb.DuckDBPyConnection, name: str, **params) -> dict[str, list]:
    """Run query ``name`` like :func:`rows`; its answer column by column, in the query's order
    (every column present, empty lists when no row)."""
    sql = QUERIES[name]
    used = set(_PARAM_RE.findall(sql))
    cursor = cur.execute(sql, {k: v for k, v in params.items() if k in used})
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    return {column: [row[k] for row in found] for k, column in enumerate(names)}


def one(cur: duckdb.DuckDBPyConnection, name: str, **params) -> dict | None:
    """The first row of :func:`rows`, or None."""
    found = rows(cur, name, **params)
    return found[0] if found else None


def community_slug(cur: duckdb.DuckDBPyConnection, community_id: str) -> str | None:
    """The slug of a community id of the dimension files, or None when unknown."""
    row = cur.execute(
        f"select community_slug from {TABLES['dim_communities']} where community_id = ?", [community_id]
    ).fetchone()
    return row[0] if row else None


def division_known(cur: duckdb.DuckDBPyConnection, division_id: str) -> bool:
    """True when the division id is in the dimension files."""
    found = cur.execute(f"select 1 from {TABLES['dim_divisions']} where division_id = ?", [division_id])
    return found.fetchone() is not None


def post_known(cur: duckdb.DuckDBPyConnection, post_id: str) -> bool:
    """True when the post is in the content dimension or has counted views."""
    sql = (
        f"select 1 from {TABLES['dim_content']} where post_id = $p"
        " union all select 1 from post_views_counted where post_id = $p limit 1"
    )
    return cur.execute(sql, {"p": post_id}).fetchone() is not None
