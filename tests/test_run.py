"""``python -m warehouse.run`` (what ``make run`` runs) as a real process on real logs.

One Airflow start-up for the three DAG runs; the terminal shows progress and, when a task fails,
the cause once at the end, never a traceback or Airflow's own logging, which go to the log file
the last message names.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import REPO, shared_log

pytestmark = [pytest.mark.slow, pytest.mark.real_logs]

# Every line the runner itself prints on standard output (anything else is Airflow's chatter).
OWN_LINES = re.compile(
    r"^(footfall_\w+( \S+)?: (running|success|failed)"
    r"|  parse \S+( part \d+)?: [\d,]+ lines, [\d,]+ lines/s.*"
    r"|ingest, report and delivery done \(Airflow's output: .+\.log\))$"
)


def environment(tmp_path, **env: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {
        "FOOTFALL_REPO": str(REPO),
        "FOOTFALL_DATA_DIR": str(tmp_path / "data"),
        "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        **env,
    }


def run(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """``python -m warehouse.run`` with pipes as standard output and error (plain lines)."""
    return subprocess.run(
        [sys.executable, "-m", "warehouse.run"],
        cwd=REPO,
        env=environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def on_a_terminal(environment: dict[str, str]) -> tuple[int, str]:
    """Run ``python -m warehouse.run`` with a pseudo-terminal as its standard output and error,
    as ``make run`` in a shell; returns its exit status and what the terminal received."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    child = subprocess.Popen(
        [sys.executable, "-m", "warehouse.run"], cwd=REPO, env=environment, stdout=follower, stderr=follower
    )
    os.close(follower)
    received = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    return child.wait(timeout=600), received.decode("utf-8", "replace")


def test_on_a_terminal_the_runs_show_progress_lines_and_nothing_of_airflow(airflow_db, tmp_path):
    code, screen = on_a_terminal(environment(tmp_path, FOOTFALL_LOG_GLOB=str(shared_log("apache_logs"))))
    assert code == 0, screen
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)  # without the terminal's control sequences
    assert "footfall_ingest" in text and "parse apache_logs" in text and "10,000 lines" in text
    assert "interval ending 2015-05-20 21:30Z: success" in text
    # Airflow's logging (structlog's "[info     ]" and logger names) never reaches the terminal.
    assert not re.search(r"\[(info|warning|error|debug) *\]|\[airflow\.", text), text[-3000:]
    done = text.strip().splitlines()[-1]
    assert done.startswith("ingest, report and delivery done (Airflow's output: ")
    logged = Path(done.split("Airflow's output: ")[1].rstrip(")")).read_text()
    assert "[DAG TEST] end task task_id=commit_sources" in logged
    assert "parse progress: apache_logs: 10,000 lines read" in logged


def test_a_failed_task_ends_with_its_cause_once_and_no_traceback(airflow_db, tmp_path):
    log = tmp_path / "access.json.log"  # JSON lines, read with the default (combined) format
    log.write_bytes(b"".join(gzip.open(shared_log("nginx_json_logs.gz")).readlines()[:300]))
    done = run(tmp_path, FOOTFALL_LOG_GLOB=str(log))
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    # Plain lines when not on a terminal: the DAG run and the unit, parsed, before the failure.
    assert done.stdout.splitlines()[:2] == ["footfall_ingest: running", done.stdout.splitlines()[1]]
    assert done.stdout.splitlines()[1].startswith("  parse access.json.log: 300 lines, ")
    assert all(OWN_LINES.match(line) for line in done.stdout.splitlines()), done.stdout
    err = done.stderr.splitlines()
    head = re.fullmatch(r"error: footfall_ingest failed at commit_sources; Airflow's full output: (\S+\.log)", err[0])
    assert head, err[0]
    assert err[1].startswith("1 log file(s) rejected: more than 5.0% (FOOTFALL_MAX_REJECT_RATE)")
    assert err[-1].startswith("Their quarantined lines are kept") and "warehouse.cli check suggests" in err[-1]
    assert done.stderr.count("log file(s) rejected") == 1
    # Failed at once, without the retries a scheduler would wait for; the details are in the log.
    assert done.stdout.splitlines()[-1] == "footfall_ingest: failed"
    assert "AirflowFailException" in Path(head[1]).read_text()
