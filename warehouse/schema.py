"""The Parquet storage contract: explicit Arrow schemas of events and quarantine files.

Documented column by column in docs/analysts/schema.md. Files are zstd-compressed and laid out as
``events/event_date=YYYY-MM-DD/<source_id>-<start_offset>.parquet`` (Hive partitioning by the
UTC date of the event) and ``quarantine/ingest_date=YYYY-MM-DD/<source_id>-<start_offset>.parquet``.
"""

from __future__ import annotations

import pyarrow as pa

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("utc_offset_minutes", pa.int16()),
        pa.field("site", pa.string(), nullable=False),
        pa.field("host", pa.string()),
        pa.field("method", pa.string()),
        pa.field("path", pa.string()),
        pa.field("query", pa.string()),
        pa.field("protocol", pa.string()),
        pa.field("status", pa.int16(), nullable=False),
        pa.field("bytes_sent", pa.int64()),
        pa.field("request_time", pa.float64()),
        pa.field("referrer", pa.string()),
        pa.field("referrer_domain", pa.string()),
        pa.field("referrer_class", pa.string()),
        pa.field("utm_source", pa.string()),
        pa.field("utm_medium", pa.string()),
        pa.field("utm_campaign", pa.string()),
        pa.field("user_agent", pa.string()),
        pa.field("user_agent_id", pa.int64()),
        pa.field("browser_family", pa.string()),
        pa.field("browser_major", pa.string()),
        pa.field("os_family", pa.string()),
        pa.field("device_type", pa.string()),
        pa.field("is_crawler", pa.bool_()),
        pa.field("crawler_name", pa.string()),
        pa.field("client_ip_hash", pa.int64()),
        pa.field("country_code", pa.string()),
        pa.field("subdivision_code", pa.string()),
        pa.field("city", pa.string()),
        pa.field("visitor_id", pa.int64(), nullable=False),
        pa.field("user_hash", pa.int64()),
        pa.field("session_hash", pa.int64()),
        pa.field("page_type", pa.string()),
        pa.field("community_slug", pa.string()),
        pa.field("post_id", pa.string()),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("line_number", pa.int64(), nullable=False),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("line_number", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("line", pa.string(), nullable=False),
    ]
)

# DuckDB type names for the empty views created before any file exists.
_DUCKDB_TYPES = {
    pa.timestamp("us", tz="UTC"): "timestamptz",
    pa.int16(): "smallint",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.string(): "varchar",
    pa.bool_(): "boolean",
}


def empty_select(schema: pa.Schema, partition: tuple[str, str]) -> str:
    """A typed ``select ... where false`` with the columns of ``schema`` and the partition column."""
    cols = [f"cast(null as {_DUCKDB_TYPES[f.type]}) as {f.name}" for f in schema]
    cols.append(f"cast(null as {partition[1]}) as {partition[0]}")
    return f"select {', '.join(cols)} where false"
