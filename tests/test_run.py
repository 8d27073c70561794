"""``python -m warehouse.run`` (what ``make run`` runs) as a real process on real logs.

One Airflow start-up for the three DAG runs; the terminal shows progress and, when a task fails,
the cause once at the end, never a traceback or Airflow's own logging, which go to the log file
the last message names.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, shared_log

# Every line the runner itself prints on standard output (anything else is Airflow's chatter).
OWN_LINES = re.compile(
    r"^(footfall_\w+( \S+)?: (running|success|failed)"
    r"|  parse \S+( part \d+)?: [\d,]+ lines, [\d,]+ lines/s.*"
    r"|ingest, report and delivery done \(Airflow's output: .+\.log\))$"
)


def run(airflow_db, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {
        "FOOTFALL_REPO": str(REPO),
        "FOOTFALL_DATA_DIR": str(tmp_path / "data"),
        "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "warehouse.run"], cwd=REPO, env=environment, capture_output=True, text=True, timeout=600
    )


def test_the_three_runs_show_progress_and_keep_airflow_out_of_the_terminal(airflow_db, tmp_path):
    done = run(airflow_db, tmp_path, FOOTFALL_LOG_GLOB=str(shared_log("apache_logs")))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert [line for line in lines if not OWN_LINES.match(line)] == []
    assert lines[:2] == ["footfall_ingest: running", lines[1]]
    assert lines[1].startswith("  parse apache_logs: 10,000 lines, ") and lines[1].endswith(" lines/s, done")
    assert "footfall_report 2015-05-20T21:30:00+00:00: running" in lines
    assert lines[-2] == "footfall_delivery: success"
    log_file = Path(lines[-1].split("Airflow's output: ")[1].rstrip(")"))
    logged = log_file.read_text()
    assert "[DAG TEST] end task task_id=commit_sources" in logged
    assert "parse progress: apache_logs: 10,000 lines read" in logged


def test_a_failed_task_ends_with_its_cause_once_and_no_traceback(airflow_db, tmp_path):
    log = tmp_path / "access.json.log"  # JSON lines, read with the default (combined) format
    log.write_bytes(b"".join(gzip.open(shared_log("nginx_json_logs.gz")).readlines()[:300]))
    done = run(airflow_db, tmp_path, FOOTFALL_LOG_GLOB=str(log))
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    err = done.stderr.splitlines()
    head = re.fullmatch(r"error: footfall_ingest failed at commit_sources; Airflow's full output: (\S+\.log)", err[0])
    assert head, err[0]
    assert err[1].startswith("1 log file(s) rejected: more than 5.0% (FOOTFALL_MAX_REJECT_RATE)")
    assert err[-1].startswith("Their quarantined lines are kept") and "warehouse.cli check suggests" in err[-1]
    assert done.stderr.count("log file(s) rejected") == 1
    # Failed at once, without the retries a scheduler would wait for; the details are in the log.
    assert done.stdout.splitlines()[-1] == "footfall_ingest: failed"
    assert "AirflowFailException" in Path(head[1]).read_text()
