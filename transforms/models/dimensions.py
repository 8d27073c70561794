"""Dimension files (divisions, communities, content, users) loaded into DuckDB.

The files live in FOOTFALL_DIMENSIONS_DIR as ``<name>.csv`` (header row, UTF-8) or
``<name>.parquet``; docs/analysts/communities.md gives their columns. They are validated in full, then
replace the ``dim_*`` tables in the caller's transaction (:func:`warehouse.aggregation.aggregate`),
so a bad file leaves the previous load in place. User ids (``users.user_id``,
``content.owner_user_id``) are replaced by the same keyed hash as the events' ``user_hash``
(``transforms.privacy``): raw user ids are never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from transforms.privacy import hash_user_ids


class DimensionError(ValueError):
    """A dimension file is missing a column, has a duplicate or dangling key; says what to fix."""


@dataclass(frozen=True)
class DimensionSpec:
    """One dimension file: its columns (required first) and its unique key."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: str


SPECS = (
    DimensionSpec(
        "divisions",
        ("division_id", "name", "type", "iso_country"),
        ("parent_id", "iso_subdivision", "city_names"),
        "division_id",
    ),
    DimensionSpec("communities", ("community_slug", "community_id", "division_id"), (), "community_slug"),
    DimensionSpec("content", ("post_id",), ("kind", "owner_user_id"), "post_id"),
    DimensionSpec("users", ("user_id",), ("home_division_id",), "user_id"),
)


def _read(directory: Path, spec: DimensionSpec) -> pl.DataFrame | None:
    """The file's rows as strings (empty strings as null), or None when there is no file."""
    csv, parquet = directory / f"{spec.name}.csv", directory / f"{spec.name}.parquet"
    if csv.exists() and parquet.exists():
        raise DimensionError(f"{directory}: both {csv.name} and {parquet.name} exist; keep one")
    if csv.exists():
        try:
            frame = pl.read_csv(csv, infer_schema=False, encoding="utf8")
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
            raise DimensionError(f"{csv}: not a readable CSV file with a header row: {exc}") from None
        path = csv
    elif parquet.exists():
        frame = pl.read_parquet(parquet)
        frame = frame.with_columns(pl.all().cast(pl.String))
        path = parquet
    else:
        return None
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise DimensionError(
            f"{path}: missing column(s) {', '.join(missing)}; {spec.name} needs "
            f"{', '.join(spec.required)} (optional: {', '.join(spec.optional) or 'none'})"
        )
    columns = [c for c in (*spec.required, *spec.optional) if c in frame.columns]
    frame = frame.select(
        [pl.col(c).str.strip_chars().replace("", None).alias(c) for c in columns]
        + [pl.lit(None, pl.String).alias(c) for c in spec.optional if c not in frame.columns]
    )
    for column in spec.required:
        empty = frame.with_row_index("row", offset=2).filter(pl.col(column).is_null())
        if empty.height:
            raise DimensionError(f"{path}: row {empty.item(0, 'row')}: {column} is empty; every row needs one")
    duplicated = frame.filter(pl.col(spec.key).is_duplicated()).get_column(spec.key).unique().sort()
    if duplicated.len():
        raise DimensionError(f"{path}: duplicate {spec.key} {duplicated.to_list()[:5]}; keys must be unique")
    return frame


def _check_reference(frame: pl.DataFrame, column: str, known: set[str], where: str) -> None:
    dangling = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(list(known)))
    if dangling.height:
        raise DimensionError(
            f"{where}: {column} {dangling.get_column(column).unique().sort().to_list()[:5]} "
            "names no division_id of divisions; add the division or fix the id"
        )


def _check_tree(divisions: pl.DataFrame, where: str) -> None:
    parent = dict(divisions.select("division_id", "parent_id").iter_rows())
    for start in parent:
        seen, node = set(), start
        while node is not None:
            if node in seen:
                raise DimensionError(f"{where}: parent_id cycle through division {start!r}; the tree needs a root")
            seen.add(node)
            node = parent.get(node)


def read_dimensions(directory: Path | None, hash_key: bytes) -> dict[str, pl.DataFrame]:
    """Read and validate every dimension file of ``directory``.

    Args:
        directory: FOOTFALL_DIMENSIONS_DIR, or None (every table empty).
        hash_key: the key of ``user_hash`` (``KeyStore.hash_key()``).

    Returns:
        ``{name: frame}`` for the four tables, user ids replaced by Int64 hashes
        (``users.user_hash``, ``content.owner_user_hash``).

    Raises:
        DimensionError: a file is unreadable, misses a required column, has an empty
            required value, a duplicate key, a dangling division id or a parent cycle.
    """
    frames = {}
    for spec in SPECS:
        frame = _read(directory, spec) if directory is not None else None
        if frame is None:
            frame = pl.DataFrame(schema={c: pl.String for c in (*spec.required, *spec.optional)})
        frames[spec.name] = frame
    # Stored as GeoIP gives it on events (ISO 3166-2 in full, "CA-ON"), whichever form the file uses.
    frames["divisions"] = frames["divisions"].with_columns(
        pl.when(pl.col("iso_subdivision").is_null() | pl.col("iso_subdivision").str.contains("-", literal=True))
        .then(pl.col("iso_subdivision"))
        .otherwise(pl.concat_str(pl.col("iso_country"), pl.lit("-"), pl.col("iso_subdivision")))
        .alias("iso_subdivision")
    )
    divisions = frames["divisions"]
    known = set(divisions.get_column("division_id").to_list())
    _check_reference(divisions, "parent_id", known, "divisions")
    _check_tree(divisions, "divisions")
    _check_reference(frames["communities"], "division_id", known, "communities")
    _check_reference(frames["users"], "home_division_id", known, "users")

    users, content = frames["users"], frames["content"]
    frames["users"] = users.select(
        hash_user_ids(users.get_column("user_id"), hash_key).alias("user_hash"), "home_division_id"
    )
    frames["content"] = content.select(
        "post_id", "kind", hash_user_ids(content.get_column("owner_user_id"), hash_key).alias("owner_user_hash")
    )
    return frames


def load_dimensions(con: duckdb.DuckDBPyConnection, directory: Path | None, hash_key: bytes) -> dict[str, int]:
    """Replace the ``dim_*`` tables with the files of ``directory``, in the caller's transaction.

    Also fills ``dim_division_ancestors`` (every division with itself and each ancestor,
    ``depth`` 0 for itself).

    Returns:
        Rows loaded per table name.

    Raises:
        DimensionError: see :func:`read_dimensions`; raised before any table is changed.
    """
    frames = read_dimensions(directory, hash_key)
    counts = {}
    for name, frame in frames.items():
        table = f"dim_{name}"
        con.execute(f"delete from {table}")
        if frame.height:
            con.register("_dimension", frame.to_arrow())
            columns = ", ".join(frame.columns)
            con.execute(f"insert into {table} ({columns}) select {columns} from _dimension")
            con.unregister("_dimension")
        counts[table] = frame.height
    con.execute("delete from dim_division_ancestors")
    con.execute(
        """
        insert into dim_division_ancestors
        with recursive up(division_id, ancestor_id, depth) as (
            select division_id, division_id, 0 from dim_divisions
            union all
            select up.division_id, d.parent_id, up.depth + 1
            from up join dim_divisions d on d.division_id = up.ancestor_id
            where d.parent_id is not null
        )
        select * from up
        """
    )
    return counts
