"""Shared test set-up: a throw-away Airflow home with a migrated SQLite DB, and helpers.

Airflow reads its configuration when first imported, so the environment is set here, at
import time, before any test module imports airflow.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_tokenizer_variant(path: str) -> None:
    """Make ``parsers._tokenizer`` the extension module at ``path`` (the sanitizer build of
    ``make test-fuzz``), before anything imports the normal build."""
    spec = importlib.util.spec_from_file_location("parsers._tokenizer", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"FOOTFALL_TEST_TOKENIZER={path} is not an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["parsers._tokenizer"] = module
    import parsers

    parsers._tokenizer = module


if os.environ.get("FOOTFALL_TEST_TOKENIZER"):
    _load_tokenizer_variant(os.environ["FOOTFALL_TEST_TOKENIZER"])
# The real logs (../shared/data/real, or FOOTFALL_TEST_SHARED_DATA: point it at a missing
# directory to check that a tier runs without them). Tests that need them are marked real_logs.
SHARED = Path(os.environ.get("FOOTFALL_TEST_SHARED_DATA") or REPO.parent / "shared" / "data" / "real")
FIXTURES = REPO / "tests" / "fixtures"
SAMPLE_LOG = FIXTURES / "apache_combined_sample.log"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="footfall-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW_CONFIG"] = str(REPO / "airflow.cfg")
os.environ["FOOTFALL_REPO"] = str(REPO)
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
# tests/cluster starts a real cluster (PostgreSQL, Redis, Celery workers) and takes minutes:
# `make cluster-test` runs it, `make test` leaves it out.
if not os.environ.get("FOOTFALL_CLUSTER_TESTS"):
    collect_ignore = ["cluster"]

# Tests must never pick up an operator's deployment settings (FOOTFALL_TEST_* steer the tests).
for _name in list(os.environ):
    if _name.startswith(("FOOTFALL_", "VISIT_TRACKING_")) and not _name.startswith(("FOOTFALL_REPO", "FOOTFALL_TEST_")):
        del os.environ[_name]


def shared_log(name: str) -> Path:
    """A real log from ../shared/data/real; the suite needs them, so a missing one fails."""
    path = SHARED / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the tests read the real logs in ../shared/data/real/")
    return path


def fixture_log(name: str) -> Path:
    """A real-log excerpt kept in tests/fixtures (see its NOTICE)."""
    return FIXTURES / name


def excerpt_lines(excerpt: str) -> dict[int, bytes]:
    """The lines of a real-log excerpt in tests/fixtures (with their line ends), by their line
    number in the whole log."""
    from fixtures.excerpts import numbered

    lines = fixture_log(excerpt).read_bytes().splitlines(keepends=True)
    return dict(zip(numbered(excerpt), lines, strict=True))


# Fixtures that start Airflow (its metadata DB, the DagBag, dag.test()): a test that uses one is
# in the slow tier, or `make test-fast` would pay for Airflow (docs/contributors/testing.md).
_AIRFLOW_FIXTURES = frozenset({"airflow_db", "dagbag", "demo_site"})


def pytest_collection_modifyitems(config, items):
    """Refuse a test that starts Airflow without the ``slow`` marker."""
    unmarked = [
        item.nodeid
        for item in items
        if _AIRFLOW_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests start Airflow but are not marked slow; add @pytest.mark.slow "
            "(docs/contributors/testing.md): " + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the test Airflow metadata DB once per session and create the warehouse pool."""
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], check=True, capture_output=True)
    subprocess.run(
        [*airflow, "pools", "set", "footfall_warehouse", "1", "one writer at a time"], check=True, capture_output=True
    )
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture
def footfall_env(tmp_path, monkeypatch):
    """Point footfall at a fresh data dir and secrets dir; returns a function to add settings."""
    data_dir, secrets_dir = tmp_path / "data", tmp_path / "secrets"
    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FOOTFALL_SECRETS_DIR", str(secrets_dir))
    monkeypatch.setenv("FOOTFALL_HASH_KEY", "test-key-not-a-secret")

    def configure(**values: str) -> Path:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        return data_dir

    return configure


@dataclass(frozen=True)
class DemoSite:
    """The generated community traffic (demo/traffic.py) ingested once by the real ingest DAG."""

    truth: object  # demo.ground_truth.GroundTruth
    input_dir: Path
    data_dir: Path
    env: dict[str, str]  # the FOOTFALL_* settings it was ingested with
    run_id: str  # the ingest DAG run


# The ingest run's logical date: after the generated days (2026-09-17 to 2026-10-31).
DEMO_INGEST_DATE = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a shell-sourceable env file (values shell-quoted)."""
    settings = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            (assignment,) = shlex.split(line)
            key, value = assignment.split("=", 1)
            settings[key] = value
    return settings


@pytest.fixture(scope="session")
def demo_site(dagbag, tmp_path_factory) -> DemoSite:
    """Generate the default demo traffic and ingest it once for the session.

    Shared by tests/test_communities.py and the analytics API's tests; nothing may write to
    it. The environment is set only while the DAG runs: tests pass ``env`` to what they start.
    """
    from demo import traffic

    root = tmp_path_factory.mktemp("demo-site")
    truth = traffic.generate(root / "input")
    env = read_env_file(root / "input" / "footfall.env")
    env |= {
        "FOOTFALL_DATA_DIR": str(root / "data"),
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
    }
    run = ingested(dagbag, env)
    return DemoSite(truth, root / "input", root / "data", env, run.run_id)


def ingested(dagbag, env: dict[str, str]):
    """Run the ingest DAG once with ``env`` set only while it runs; returns the successful run."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        run = dagbag.get_dag("footfall_ingest").test(logical_date=DEMO_INGEST_DATE)
    # dag.test() does not raise when a task fails: the run's state says.
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    return run


@pytest.fixture(scope="session")
def filter_site(dagbag, tmp_path_factory):
    """The site of tests/filter_site.py ingested once for the session, served by ``python -m
    analytics serve``: ``(server, env, hits)``, ``hits`` being the oracle's reading of its log.
    Shared by the filter tests of the API and of the dashboard; nothing may write to it."""
    from api_helpers import start_api
    from filter_site import read_log, write_log

    root = tmp_path_factory.mktemp("filters")
    log = root / "access.log"
    write_log(log)
    env = {
        "FOOTFALL_LOG_GLOB": str(log),
        "FOOTFALL_DATA_DIR": str(root / "data"),
        "FOOTFALL_SECRETS_DIR": str(root / "secrets"),
        "FOOTFALL_HASH_KEY": "test-key-not-a-secret",
        "FOOTFALL_SITE_HOSTS": "example.com",
    }
    ingested(dagbag, env)
    server = start_api(env, root / "serve.log")
    yield server, env, read_log(log)
    server.stop()
