"""No address from the input, wherever it was in a line, may appear in anything footfall writes:
every byte under the data dir, every Parquet value, every warehouse table and view, the outbox,
and CSV exports."""

from __future__ import annotations

import ipaddress
import re

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import shared_log
from test_end_to_end import INGEST_DATE, REPORT_END, run_dag

from warehouse.cli import main as cli
from warehouse.export import EXPORTS

_IPV4_CANDIDATE = re.compile(r"(?<![0-9.])\d{1,3}(?:\.\d{1,3}){3}(?![0-9])")
# Colon-separated hex words with a "::" or eight words: IPv6 in full or compressed form, at least
# one hex digit (a bare "::", as in "LWP::Simple", is no one's address).
_IPV6_CANDIDATE = re.compile(
    r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![0-9A-Fa-f:])"
)


def _valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(c not in ":" for c in text)


def addresses_in(lines: list[str]) -> set[str]:
    """Every IPv4 or IPv6 address written anywhere in ``lines``: client fields, request lines,
    referrers, user agents (version numbers shaped like addresses included)."""
    found = set()
    for line in lines:
        found.update(a for a in _IPV4_CANDIDATE.findall(line) if _valid(a))
        found.update(a for a in _IPV6_CANDIDATE.findall(line) if _valid(a))
    return found


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


@pytest.mark.real_logs
@pytest.mark.slow
def test_no_input_address_reaches_the_data_dir(dagbag, footfall_env, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    apache = shared_log("apache_logs").read_bytes()
    nginx = shared_log("nginx_logs").read_bytes()
    # Lines the parser quarantines keep their text: make sure addresses in them are redacted too.
    broken = (
        b"203.0.113.77 this line is not in combined format\n2001:db8::77 neither is this one\n"
        b'203.0.113.78 - - [19/May/2015:14:10:00 +0000] "GET /a?x=1&token=TOKEN-VALUE-123 HTTP/1.1" 2OO 5 "-" "-"\n'
    )
    # Sensitive query parameters, in the request and in the referrer, must be removed.
    secrets_in_urls = (
        b'198.51.100.9 - - [19/May/2015:14:10:00 +0000] "GET /reset?token=TOKEN-VALUE-123&page=2 HTTP/1.1" 200 5 '
        b'"https://mail.example.org/read?Email=person%40example.org&sid=SID-VALUE-456" "Mozilla/5.0 (X11; Linux)"\n'
    )
    # A client's own address, or anyone's, inside the request: path, query, referrer (its host
    # too, with a port, or bracketed IPv6), the user agent; in the report's half hour.
    inside_requests = b"".join(
        b'192.0.2.50 - - [19/May/2015:14:%02d:00 +0000] "GET %s HTTP/1.1" 200 5 "%s" "%s"\n' % (10 + i, *fields)
        for i, fields in enumerate(
            [
                (b"/whatismyip?ip=198.51.100.23", b"-", b"Mozilla/5.0 (X11; Linux)"),
                (b"/geo/198.51.100.24", b"http://198.51.100.25:8080/admin", b"Mozilla/5.0 (X11; Linux)"),
                (b"/v6?addr=2001:db8::25", b"http://[2001:db8::26]:8443/x?from=203.0.113.26", b"curl/8.0"),
                (b"/", b"-", b"Mozilla/5.0 (client 203.0.113.27; like Gecko)"),
                (b"/v1.2.3.4/docs", b"https://example.org/?q=fe80::1234:5678", b"Mozilla/5.0 (X11; Linux)"),
            ]
        )
    )
    (logs / "apache.log").write_bytes(apache)
    (logs / "nginx.log").write_bytes(nginx + broken + secrets_in_urls + inside_requests)
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*.log"))

    run_dag(dagbag, "footfall_ingest", INGEST_DATE)
    run_dag(dagbag, "footfall_report", REPORT_END)
    exports = data_dir.parent / "exports"
    exports.mkdir()
    for view in sorted(EXPORTS):
        output = exports / f"{view}.csv"
        assert cli(["export", view, "--from", "2015-05-17", "--to", "2015-06-04", "--output", str(output)]) == 0

    lines = (apache + nginx + broken + secrets_in_urls + inside_requests).decode("utf-8", "backslashreplace")
    addresses = addresses_in(lines.splitlines())
    crafted = {"198.51.100.23", "198.51.100.24", "198.51.100.25", "2001:db8::25", "2001:db8::26", "203.0.113.26"}
    crafted |= {"203.0.113.27", "1.2.3.4", "fe80::1234:5678", "203.0.113.77", "2001:db8::77", "198.51.100.9"}
    assert crafted <= addresses
    assert len(addresses) > 2000 and any(":" in a for a in addresses)
    pattern = _AddressFinder(addresses)

    outputs = [p for p in exports.glob("*.csv")]
    assert len(outputs) == len(EXPORTS) and sum(p.stat().st_size for p in outputs) > 100_000
    for path in outputs:
        found = pattern.search(path.read_text(errors="backslashreplace"))
        assert not found, f"address {found} in the export {path.name}"
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    secrets_dir = data_dir.parent / "secrets"
    salts = [p.read_bytes() for p in (secrets_dir / "salts").glob("*.salt")]
    assert len(salts) == 19  # one per day of the two logs (2015-05-17 to 06-04)
    forbidden = [b"test-key-not-a-secret", b"TOKEN-VALUE-123", b"SID-VALUE-456", b"person%40example.org", b"person@"]
    forbidden += salts + [salt.hex().encode() for salt in salts]
    assert {p.suffix for p in files} >= {".parquet", ".duckdb", ".json"}
    # 1. Raw bytes of every file (reports, outbox, the DuckDB file, Parquet pages).
    for path in files:
        raw = path.read_bytes()
        found = pattern.search(raw.decode("latin-1"))
        assert not found, f"address {found} in {path.relative_to(data_dir)}"
        assert not [f for f in forbidden if f in raw], f"secret or removed parameter in {path.relative_to(data_dir)}"
    # 2. Decoded content of every Parquet file: its pages are compressed, so scan the values.
    for path in (p for p in files if p.suffix == ".parquet"):
        table = pq.read_table(path)
        for column in table.column_names:
            values = [str(v) for v in table.column(column).to_pylist() if v is not None]
            hits = [v for v in values if pattern.search(v) or any(f.decode("latin-1") in v for f in forbidden[:5])]
            assert hits == [], f"address or secret in {path.relative_to(data_dir)}:{column}: {hits[:3]}"
    # 3. Every table and view of the warehouse, as text.
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    relations = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
    assert {"events", "quarantine", "daily_traffic", "hourly_traffic"} <= set(relations)
    for relation in relations:
        for row in con.execute(f'select * from "{relation}"').fetchall():
            assert not pattern.search(repr(row)), f"address {pattern.search(repr(row))} in {relation}: {row}"
    # What is kept of the URLs: the harmless parameters.
    kept = con.execute("select query, referrer from events where path = '/reset'").fetchall()
    assert kept == [("page=2", "https://mail.example.org/read")]
    # ... and everything but the addresses of the requests that held some (docs/operators/privacy.md).
    redacted = con.execute(
        "select path, query, referrer, referrer_domain, user_agent from events where line_number > 51466 order by ts"
    ).fetchall()
    assert redacted == [
        ("/whatismyip", "ip=<address>", None, None, "Mozilla/5.0 (X11; Linux)"),
        ("/geo/<address>", None, "http://<address>:8080/admin", "<address>", "Mozilla/5.0 (X11; Linux)"),
        ("/v6", "addr=<address>", "http://[<address>]:8443/x?from=<address>", "[<address>]", "curl/8.0"),
        ("/", None, None, None, "Mozilla/5.0 (client <address>; like Gecko)"),
        ("/v<address>/docs", None, "https://example.org/?q=<address>", "example.org", "Mozilla/5.0 (X11; Linux)"),
    ]
    # The quarantined lines are kept, with the address replaced.
    lines = [r[0] for r in con.execute("select line from quarantine order by line_number").fetchall()]
    assert lines == [
        "<address> this line is not in combined format",
        "<address> neither is this one",
        '<address> - - [19/May/2015:14:10:00 +0000] "GET /a?x=1&token=<removed> HTTP/1.1" 2OO 5 "-" "-"',
    ]
