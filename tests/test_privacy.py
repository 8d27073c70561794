"""No client address from the input may appear in any byte footfall writes under the data dir."""

from __future__ import annotations

import re

import duckdb
import pyarrow.parquet as pq
from conftest import shared_log
from oracle import read_hits
from test_end_to_end import INGEST_DATE, REPORT_END, run_dag

_IPV4_CANDIDATE = re.compile(r"(?<![0-9.])\d{1,3}(?:\.\d{1,3}){3}(?![0-9])")


class _AddressFinder:
    """Finds any of a set of addresses in text: IPv4 by candidate regex plus set lookup (so
    1.2.3.4 is not found inside 11.2.3.45), IPv6 by substring (a few dozen of them)."""

    def __init__(self, addresses: set[str]) -> None:
        self.v4 = {a for a in addresses if ":" not in a}
        self.v6 = [a.lower() for a in addresses if ":" in a]

    def search(self, text: str) -> str | None:
        for candidate in _IPV4_CANDIDATE.findall(text):
            if candidate in self.v4:
                return candidate
        lowered = text.lower()
        return next((a for a in self.v6 if a in lowered), None)


def test_no_input_address_reaches_the_data_dir(dagbag, footfall_env, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    apache = shared_log("apache_logs").read_bytes()
    nginx = shared_log("nginx_logs").read_bytes()
    # Lines the parser quarantines keep their text: make sure addresses in them are redacted too.
    broken = b"203.0.113.77 this line is not in combined format\n2001:db8::77 neither is this one\n"
    (logs / "apache.log").write_bytes(apache)
    (logs / "nginx.log").write_bytes(nginx + broken)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*.log"))

    run_dag(dagbag, "footfall_ingest", INGEST_DATE)
    run_dag(dagbag, "footfall_report", REPORT_END)

    addresses = {h.ip for h in read_hits(shared_log("apache_logs"))} | {
        h.ip for h in read_hits(shared_log("nginx_logs"))
    }
    addresses |= {"203.0.113.77", "2001:db8::77"}
    assert len(addresses) > 2000 and any(":" in a for a in addresses)
    pattern = _AddressFinder(addresses)

    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".parquet", ".duckdb", ".json"}
    # 1. Raw bytes of every file (reports, outbox, the DuckDB file, Parquet pages).
    for path in files:
        text = path.read_bytes().decode("latin-1")
        assert not pattern.search(text), f"client address in {path.relative_to(data_dir)}"
    # 2. Decoded content of every Parquet file: its pages are compressed, so scan the values.
    for path in (p for p in files if p.suffix == ".parquet"):
        table = pq.read_table(path)
        for column in table.column_names:
            values = [str(v) for v in table.column(column).to_pylist() if v is not None]
            hits = [v for v in values if pattern.search(v)]
            assert hits == [], f"client address in {path.relative_to(data_dir)}:{column}"
    # 3. Every table and view of the warehouse, as text.
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    relations = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
    assert {"events", "quarantine", "daily_traffic", "hourly_traffic"} <= set(relations)
    for relation in relations:
        for row in con.execute(f'select * from "{relation}"').fetchall():
            assert not pattern.search(repr(row)), f"client address in {relation}"
    # The quarantined lines are kept, with the address replaced.
    lines = [r[0] for r in con.execute("select line from quarantine order by line_number").fetchall()]
    assert lines == ["<address> this line is not in combined format", "<address> neither is this one"]
