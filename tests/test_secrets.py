"""Secrets are private whatever the path and the umask: every directory footfall creates for them
is 0700, every file 0600, and a secrets dir open to other users is refused at start-up."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from conftest import shared_log

from warehouse import ingest
from warehouse.cli import main as cli
from warehouse.settings import ConfigError, Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ingest_once() -> dict:
    settings = Settings.from_env()
    results = [ingest.parse_source(settings, u, "run-1", dt.date(2026, 11, 21)) for u in ingest.discover(settings)]
    return ingest.commit(settings, results, "run-1", dt.datetime(2026, 11, 21, tzinfo=dt.UTC))


@pytest.fixture
def umask():
    """Set the process umask for one test (footfall must not depend on it), then restore it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.real_logs
@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000, 0o277])
@pytest.mark.parametrize("configured_key", [True, False])
def test_every_directory_and_file_created_for_secrets_is_private(tmp_path, monkeypatch, umask, mask, configured_key):
    log = tmp_path / "access.log"
    # Two days of real lines: two daily salts.
    log.write_bytes(b"".join(shared_log("nginx_logs").read_bytes().splitlines(keepends=True)[:2000]))
    secrets_dir = tmp_path / "new" / "nested" / "secrets"
    monkeypatch.setenv("FOOTFALL_LOG_GLOB", str(log))
    monkeypatch.setenv("FOOTFALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FOOTFALL_SECRETS_DIR", str(secrets_dir))
    if configured_key:
        monkeypatch.setenv("FOOTFALL_HASH_KEY", "test-key-not-a-secret")
    else:
        monkeypatch.delenv("FOOTFALL_HASH_KEY", raising=False)
    umask(mask)

    assert ingest_once()["lines_parsed"] == 2000

    created = [tmp_path / "new", tmp_path / "new" / "nested", secrets_dir, secrets_dir / "salts"]
    assert {str(d.relative_to(tmp_path)): oct(mode(d)) for d in created} == {
        str(d.relative_to(tmp_path)): "0o700" for d in created
    }
    files = sorted(p for p in secrets_dir.rglob("*") if p.is_file())
    expected = {"salts/2015-05-17.salt", "salts/2015-05-18.salt"} | (set() if configured_key else {"hash.key"})
    assert {str(p.relative_to(secrets_dir)) for p in files} == expected
    assert {oct(mode(p)) for p in files} == {"0o600"}
    assert {len(p.read_bytes()) for p in files} == {32}


@pytest.mark.parametrize("open_mode", [0o755, 0o750, 0o711, 0o701, 0o770])
def test_a_secrets_dir_open_to_other_users_is_refused_with_the_chmod_that_fixes_it(
    footfall_env, tmp_path, capsys, open_mode
):
    secrets_dir = tmp_path / "my secrets"
    secrets_dir.mkdir()
    secrets_dir.chmod(open_mode)
    footfall_env(FOOTFALL_SECRETS_DIR=str(secrets_dir))

    with pytest.raises(ConfigError, match=f"mode 0{open_mode:o}"):
        Settings.from_env()
    # Every command starts by reading its settings: `make run` begins with `check`.
    assert cli(["check"]) == 2
    err = capsys.readouterr().err
    fix = f"chmod 700 '{secrets_dir}'"
    assert err.count("\n") == 1 and err.rstrip().endswith(fix), err
    assert cli(["summary"]) == 2

    os.system(fix)  # what the message says to run
    assert mode(secrets_dir) == 0o700
    assert cli(["check"]) == 0
