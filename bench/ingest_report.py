"""The text report of ``bench/ingest_bench.py``: stages, throughput, memory, the targets and
GoAccess's figures from the same run, from the result dict ``ingest_bench`` builds (also what
``--json`` prints)."""

from __future__ import annotations

import os

MIB = 1024 * 1024

TARGET_LINES_PER_S = 500_000
TARGET_AGGREGATE_S_PER_2M = 2.0
TARGET_RSS_MIB_AT_20M = 1024


def _fmt_rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds:>12,.0f}" if seconds > 0 else f"{'-':>12}"


def print_report(r: dict) -> None:
    lines, mb = r["input_lines"], r["input_bytes"] / 1e6
    ing = r["ingest"]
    print()
    print(f"input      {r['input_path']}")
    print(
        f"           {lines:,} lines = {r['copies']} x {r['lines_per_copy']:,}, {mb:,.1f} MB uncompressed"
        f"{', gzip ' + format(r['input_file_bytes'] / 1e6, ',.1f') + ' MB on disk' if r['gzip'] else ''}"
        f" (built in {r['build_seconds']:.1f} s)"
    )
    print(
        f"settings   parse_threads={r['threads']} chunk_bytes={r['chunk_bytes']:,} cores={os.cpu_count()}"
        f" units={r['units']} of {r['map_chunk_bytes'] / MIB:,.0f} MiB, unit_workers={r['unit_workers']}"
    )
    other = r["other_cpu_cores_during_ingest"]
    if other is not None:
        busy = " -- machine was busy: timings are pessimistic" if other > 0.2 else ""
        print(f"other load {other:.2f} cores used by other processes during the ingest{busy}")
    print()
    print(f"{'stage':<14}{'seconds':>10}{'cpu s':>10}{'lines/s':>13}{'peak RSS MiB':>15}")
    for s in ing["stages"]:
        rate = f"{'':>13}" if s["stage"] == "startup" else " " + _fmt_rate(lines, s["seconds"])
        print(f"{s['stage']:<14}{s['seconds']:>10.2f}{s['cpu_seconds']:>10.2f}{rate}{s['rss_mib']:>15.0f}")
    tot = r["total_seconds"]
    print(f"{'total':<14}{tot:>10.2f}{r['total_cpu_seconds']:>10.2f} {_fmt_rate(lines, tot)}{r['peak_rss_mib']:>15.0f}")
    print("  (total = discover + parse_source + commit + aggregate; startup = interpreter + imports, not counted)")
    print()
    print(
        f"throughput {r['lines_per_s']:,.0f} lines/s, {r['mb_per_s']:,.1f} MB/s, {1e9 / r['lines_per_s']:,.0f} ns/line"
    )
    print(f"peak RSS   {r['peak_rss_mib']:,.0f} MiB (largest of the child and its unit workers, wait4)")
    print(f"output     {ing['events_parquet_bytes'] / 1e6:,.1f} MB events Parquet, {ing['days_rebuilt']} days rebuilt")
    ok = "OK" if r["sanity_ok"] else "MISMATCH"
    print(
        f"sanity     sum(daily_traffic.hits) {ing['sum_hits']:,} + quarantined {ing['lines_quarantined']:,}"
        f" = {ing['sum_hits'] + ing['lines_quarantined']:,} vs {lines:,} input lines;"
        f" lines_read {ing['lines_read']:,}: {ok}"
    )
    print()
    agg = next(s["seconds"] for s in ing["stages"] if s["stage"] == "aggregate")
    rate = r["lines_per_s"]
    print("targets")
    verdict = "PASS" if rate >= TARGET_LINES_PER_S else "FAIL"
    print(f"  >= {TARGET_LINES_PER_S:,} lines/s end to end: {rate:,.0f} {verdict}")
    if 1_500_000 <= lines <= 3_000_000:
        verdict = "PASS" if agg * 2_000_000 / lines < TARGET_AGGREGATE_S_PER_2M else "FAIL"
    else:
        verdict = "not judged: the target is for ~2M lines"
    print(f"  aggregate < {TARGET_AGGREGATE_S_PER_2M} s at 2M lines: {agg:.2f} s for {lines:,} lines {verdict}")
    rss = r["peak_rss_mib"]
    if rss > TARGET_RSS_MIB_AT_20M:
        verdict = "FAIL"
    elif lines >= 20_000_000:
        verdict = "PASS"
    else:
        verdict = "ok so far (the target is at 20M lines: --lines 20000000)"
    print(f"  peak RSS <= {TARGET_RSS_MIB_AT_20M} MiB at 20M lines: {rss:,.0f} MiB {verdict}")
    ga = r.get("goaccess")
    print()
    if ga is None:
        print(f"goaccess   {r.get('goaccess_skipped', 'skipped')}")
    elif ga["exit_code"] != 0:
        print(f"goaccess   exit code {ga['exit_code']} (stderr kept in the work dir, not printed: it quotes log lines)")
    else:
        ga_rate = lines / ga["seconds"]
        print(f"goaccess   {ga['cmd']}")
        print(
            f"           {ga['seconds']:.2f} s ({ga['cpu_seconds']:.2f} cpu s), {ga_rate:,.0f} lines/s,"
            f" peak RSS {ga['peak_rss_mib']:,.0f} MiB, total_requests {ga.get('total_requests') or 0:,}"
        )
        print(
            f"ratio      footfall/goaccess speed {r['ratio_wall']:.2f}x (wall),"
            f" {r['ratio_cpu']:.2f}x per CPU second; RSS {r['peak_rss_mib'] / ga['peak_rss_mib']:.1f}x goaccess's"
        )
