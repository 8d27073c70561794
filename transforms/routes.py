"""Route rules: URL path patterns -> page type and named values (community, post).

The rules come from a TOML file (FOOTFALL_ROUTES), documented in docs/analysts/communities.md::

    [[routes]]
    page_type = "community"
    pattern = "/communities/{community_slug}/..."

The first route whose pattern matches a path wins. ``{name}`` matches one non-empty path
segment; a trailing ``/...`` matches the rest of the path, including nothing; one trailing
``/`` on the request path is ignored. Patterns compile to anchored regular expressions that
run column-wise (polars, Rust ``regex``) once per distinct path of a chunk.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# Captures stored as event columns; ``username`` is matched (so profile pages get their page
# type) but not stored: a user name is personal data no metric needs.
STORED_CAPTURES = ("community_slug", "post_id")
ALLOWED_CAPTURES = (*STORED_CAPTURES, "username")

ROUTE_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "page_type": pl.String(),
    "community_slug": pl.String(),
    "post_id": pl.String(),
}

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PAGE_TYPE = re.compile(r"[a-z][a-z0-9_]*")


class RoutesConfigError(ValueError):
    """The routes file is missing or malformed; the message names the file, the route and the fix."""


@dataclass(frozen=True)
class Route:
    """One rule: ``page_type`` for paths matching ``pattern`` (compiled to ``regex``)."""

    page_type: str
    pattern: str
    regex: str
    captures: tuple[str, ...]


def compile_pattern(pattern: str, where: str = "pattern") -> tuple[str, tuple[str, ...]]:
    """Compile a route pattern to an anchored regex with one named group per ``{name}``.

    Returns:
        ``(regex, capture names)``.

    Raises:
        RoutesConfigError: the pattern does not start with ``/``, uses an unknown or
            repeated capture name, or has ``...`` anywhere but as its last segment.
    """
    if not pattern.startswith("/"):
        raise RoutesConfigError(f"{where}: pattern {pattern!r} must start with '/'")
    rest = pattern.endswith("/...")
    body = pattern[: -len("/...")] if rest else pattern
    if "..." in body:
        raise RoutesConfigError(f"{where}: '...' may only be the last segment of {pattern!r} (as in '/a/...')")
    captures: list[str] = []
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(body):
        name = match.group(1)
        if name not in ALLOWED_CAPTURES:
            raise RoutesConfigError(
                f"{where}: unknown capture {{{name}}} in {pattern!r}; use one of "
                + ", ".join("{" + c + "}" for c in ALLOWED_CAPTURES)
            )
        if name in captures:
            raise RoutesConfigError(f"{where}: capture {{{name}}} appears twice in {pattern!r}")
        captures.append(name)
        parts.append(re.escape(body[position : match.start()]))
        parts.append(f"(?P<{name}>[^/]+)")
        position = match.end()
    parts.append(re.escape(body[position:]))
    literal = "".join(parts)
    if "{" in body[position:] or "}" in body[position:]:
        raise RoutesConfigError(f"{where}: unbalanced braces in {pattern!r}")
    tail = "(?:/.*)?" if rest else "/?"
    if body == "" and rest:
        # "/..." alone matches every path.
        return "^/.*$", ()
    return f"^{literal}{tail}$", tuple(captures)


class Routes:
    """The compiled route rules of one file, applied column-wise.

    Args:
        routes: the rules in priority order (first match wins).
        source: where they came from, for messages.
    """

    def __init__(self, routes: tuple[Route, ...], source: str = "<routes>") -> None:
        self.routes = routes
        self.source = source

    @classmethod
    def load(cls, path: Path) -> Routes:
        """Read and compile a routes TOML file.

        Raises:
            RoutesConfigError: the file is missing, is not TOML, or a route lacks
                ``page_type``/``pattern``, has an invalid page type or pattern.
        """
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RoutesConfigError(f"FOOTFALL_ROUTES={str(path)!r}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise RoutesConfigError(f"FOOTFALL_ROUTES={str(path)!r} is not valid TOML: {exc}") from None
        entries = data.get("routes")
        if not isinstance(entries, list) or not entries:
            raise RoutesConfigError(f"{path}: expected one or more [[routes]] tables with page_type and pattern")
        compiled = []
        for number, entry in enumerate(entries, start=1):
            where = f"{path}: route {number}"
            if not isinstance(entry, dict) or set(entry) - {"page_type", "pattern"}:
                extra = sorted(set(entry) - {"page_type", "pattern"}) if isinstance(entry, dict) else entry
                raise RoutesConfigError(f"{where}: unexpected keys {extra}; a route has page_type and pattern")
            page_type, pattern = entry.get("page_type"), entry.get("pattern")
            if not isinstance(page_type, str) or not _PAGE_TYPE.fullmatch(page_type):
                raise RoutesConfigError(f"{where}: page_type {page_type!r} must be a lower-case identifier")
            if not isinstance(pattern, str):
                raise RoutesConfigError(f"{where}: pattern must be a string such as '/blog/{{post_id}}'")
            regex, captures = compile_pattern(pattern, where)
            compiled.append(Route(page_type, pattern, regex, captures))
        return cls(tuple(compiled), str(path))

    def classify(self, paths: pl.Series) -> pl.DataFrame:
        """Page type and captures for each distinct path.

        Args:
            paths: request paths (String; nulls allowed).

        Returns:
            One row per distinct non-null path, columns of :data:`ROUTE_SCHEMA`; paths no
            route matches have null ``page_type`` and captures.
        """
        distinct = pl.DataFrame({"path": paths.drop_nulls().unique()}, schema={"path": pl.String()})
        if not distinct.height or not self.routes:
            return distinct.with_columns(pl.lit(None, pl.String).alias(c) for c in list(ROUTE_SCHEMA)[1:])
        path = pl.col("path")
        page_type = pl.lit(None, pl.String)
        captures = {name: pl.lit(None, pl.String) for name in STORED_CAPTURES}
        # Built from the last route to the first, so an earlier match overrides a later one.
        for route in reversed(self.routes):
            match = path.str.contains(route.regex)
            page_type = pl.when(match).then(pl.lit(route.page_type)).otherwise(page_type)
            groups = path.str.extract_groups(route.regex)
            for name in STORED_CAPTURES:
                if name in route.captures:
                    captures[name] = pl.when(match).then(groups.struct.field(name)).otherwise(captures[name])
                else:
                    captures[name] = pl.when(match).then(pl.lit(None, pl.String)).otherwise(captures[name])
        columns = [page_type.alias("page_type"), *(value.alias(name) for name, value in captures.items())]
        return distinct.with_columns(columns).cast(ROUTE_SCHEMA)
