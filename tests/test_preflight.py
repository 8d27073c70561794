"""The preflight check (``python -m warehouse.cli check``) on real files, and the log formats it knows.

What is expected comes from the files themselves: formats are derived from real combined lines by
construction (common drops the last two fields, main appends "$http_x_forwarded_for", vcombined
prefixes a virtual host), and the JSON log is checked against GoAccess's report on the same
records in combined form (``../shared/data/real/goaccess/nginx_logs.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLE_LOG, shared_log
from warehouse_queries import query

from parsers.log_format import NAMED_FORMATS, compile_log_format
from parsers.variables import LogFormatError
from warehouse import environment
from warehouse.cli import main


def check(capsys) -> tuple[int, str, str]:
    code = main(["check"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.real_logs
def test_a_typo_in_a_variable_fails_check_with_the_closest_known_name(footfall_env, capsys, monkeypatch):
    footfall_env()
    monkeypatch.setenv("FOOTFALL_LOG_GLOBS", str(shared_log("apache_logs")))  # an extra S
    monkeypatch.setenv("FOOTFALL_TIMEZON", "Europe/Paris")
    code, _, err = check(capsys)
    assert code == 2
    assert "FOOTFALL_LOG_GLOBS is not a footfall setting; did you mean FOOTFALL_LOG_GLOB " in err
    assert "FOOTFALL_TIMEZON is not a footfall setting; did you mean FOOTFALL_TIMEZONE " in err
    # The typo left FOOTFALL_LOG_GLOB unset: check says the bundled sample would be read.
    assert f"the bundled sample {SAMPLE_LOG} is read" in err
    assert "configuration OK" not in err
    monkeypatch.delenv("FOOTFALL_LOG_GLOBS")
    monkeypatch.delenv("FOOTFALL_TIMEZON")
    monkeypatch.setenv("FOOTFALL_SOMETHING_ELSE", "1")
    code, _, err = check(capsys)
    assert code == 2
    assert "FOOTFALL_SOMETHING_ELSE is not a footfall setting (docs/operators/settings.md lists them)" in err


@pytest.mark.real_logs
def test_a_glob_that_matches_nothing_fails_check_naming_it(footfall_env, capsys, tmp_path):
    missing = str(tmp_path / "logs" / "acces.log*")
    footfall_env(FOOTFALL_LOG_GLOB=f"{shared_log('apache_logs')}:{missing}")
    code, out, err = check(capsys)
    assert code == 2
    assert (
        err.splitlines()[-1]
        == f"error: FOOTFALL_LOG_GLOB: the glob {missing!r} matches no file; nothing would be read from it"
    )
    assert "apache_logs  2.3 MiB  2,000 of 2,000 sampled lines parse (100%)" in out


@pytest.mark.real_logs
def test_check_lists_each_globs_files_and_warns_what_retention_would_do(footfall_env, capsys, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").symlink_to(shared_log("apache_logs"))
    (logs / "access.log.2.gz").symlink_to(shared_log("wordpress_access3.log.gz"))
    footfall_env(FOOTFALL_LOG_SOURCES=f"blog={logs}/access.log*")
    code, out, err = check(capsys)
    assert code == 0, err
    assert f"FOOTFALL_LOG_SOURCES {logs}/access.log* (site blog): 2 file(s)" in out
    # apache_logs: its first and last lines (plain file), UTC; the .gz: its first lines.
    assert "access.log  2.3 MiB  2,000 of 2,000 sampled lines parse (100%); lines from 2015-05-17 .. 2015-05-20" in out
    assert "access.log.2.gz  3.8 MiB  2,000 of 2,000 sampled lines parse (100%); lines from 2016-02-20" in out
    warning = next(line for line in err.splitlines() if line.startswith("warning: 2 file(s) hold lines"))
    assert "from 2015-05-17 .. 2016-02-20 (UTC), older than the raw-event retention" in warning
    assert "their raw events are deleted" in warning and "their daily aggregates are kept" in warning
    assert out.splitlines()[-1].startswith("configuration OK")
    assert "bundled sample" not in err


def combined_lines(n: int = 300) -> list[str]:
    return shared_log("apache_logs").read_text(encoding="utf-8", errors="replace").splitlines()[:n]


@pytest.mark.real_logs
@pytest.mark.parametrize(
    ("name", "transform"),
    [
        ("main", lambda line: line + ' "-"'),
        ("common", lambda line: re.sub(r' "[^"]*" "[^"]*"$', "", line)),
        ("vcombined", lambda line: "www.example.org:443 " + line),
        ("vcommon", lambda line: "www.example.org:80 " + re.sub(r' "[^"]*" "[^"]*"$', "", line)),
    ],
)
def test_check_suggests_the_named_format_that_fits(footfall_env, capsys, tmp_path, monkeypatch, name, transform):
    lines = [transform(line) for line in combined_lines() if line.count('"') == 6]  # whole combined lines
    log = tmp_path / f"{name}.log"
    log.write_text("\n".join(lines) + "\n")
    footfall_env(FOOTFALL_LOG_GLOB=str(log))
    code, _, err = check(capsys)
    assert code == 2
    assert err.splitlines()[-1] == f"  FOOTFALL_LOG_FORMAT={name}"
    # The name is accepted as it is suggested, in any case, and the file then parses in full.
    monkeypatch.setenv("FOOTFALL_LOG_FORMAT", name.upper())
    code, out, err = check(capsys)
    assert code == 0, err
    assert f"{len(lines):,} of {len(lines):,} sampled lines parse (100%)" in out


def test_named_formats_are_the_documented_ones():
    assert NAMED_FORMATS["combined"] == compile_log_format("combined").text
    main = compile_log_format("main")
    assert (
        main.variables[-1] == "http_x_forwarded_for" and main.variables[:-1] == compile_log_format("combined").variables
    )
    assert compile_log_format("vcombined").variables[:3] == ("server_name", "server_port", "remote_addr")
    with pytest.raises(LogFormatError, match="neither a log_format .* nor a known format name .*did you mean main"):
        compile_log_format("mian")


@pytest.mark.slow
@pytest.mark.real_logs
def test_the_json_log_gets_a_json_template_from_check_that_then_works(dagbag, footfall_env, capsys, monkeypatch):
    """The JSON log with the default format: check fails with a template ready to paste; with it
    check passes and a real ingest run counts what GoAccess counts on the same records."""
    data_dir = footfall_env(FOOTFALL_LOG_GLOB=str(shared_log("nginx_json_logs.gz")))
    code, out, err = check(capsys)
    assert code == 2
    assert "0 of 2,000 sampled lines parse with FOOTFALL_LOG_FORMAT" in err
    assert "the JSON template built from its keys parses 2,000 of them. Use:" in err
    suggestion = err.splitlines()[-1].strip()
    assert suggestion.startswith("FOOTFALL_LOG_FORMAT=")
    (assignment,) = shlex.split(suggestion)  # as a shell reads the pasted line
    template = assignment.removeprefix("FOOTFALL_LOG_FORMAT=")
    fields = dict(compile_log_format(template).json_fields)
    assert fields == {
        "time": "time_local", "remote_ip": "remote_addr", "remote_user": "remote_user", "request": "request",
        "response": "status", "bytes": "body_bytes_sent", "referrer": "http_referer", "agent": "http_user_agent",
    }  # fmt: skip

    monkeypatch.setenv("FOOTFALL_LOG_FORMAT", template)
    code, out, err = check(capsys)
    assert code == 0, err
    assert "nginx_json_logs.gz  375.5 KiB  2,000 of 2,000 sampled lines parse (100%)" in out

    run = dagbag.get_dag("footfall_ingest").test(logical_date=dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC))
    assert run.state == "success"
    goaccess = json.loads(shared_log("goaccess/nginx_logs.json").read_text())
    expected = {d["data"]: (d["hits"]["count"], d["visitors"]["count"]) for d in goaccess["visitors"]["data"]}
    got = query(data_dir, "select strftime(day_as_logged, '%Y%m%d'), hits, visitors from goaccess_daily")
    assert {day: (hits, visitors) for day, hits, visitors in got} == expected
    assert query(data_dir, "select sum(lines_read), sum(lines_parsed) from data_quality") == [(51_462, 51_462)]


@pytest.mark.real_logs
def test_a_file_that_is_not_text_is_a_warning_not_an_error(footfall_env, capsys, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").symlink_to(shared_log("apache_logs"))
    (logs / "photo.jpg").write_bytes(bytes(range(256)) * 40)
    footfall_env(FOOTFALL_LOG_GLOB=str(logs / "*"))
    code, out, err = check(capsys)
    assert code == 0, err
    assert "photo.jpg  10.0 KiB  not text" in out
    assert f"warning: {logs / 'photo.jpg'}: it is not text" in err and "rejects it once" in err


class Recording(dict):
    """An environment that remembers the names read from it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def get(self, name, default=None):
        self.seen.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.seen.add(name)
        return super().__getitem__(name)


def test_the_variables_read_are_the_declared_ones(footfall_env):
    """The variables Settings and the API's settings read from an environment are exactly those
    the unknown-variable check accepts, but the two internal ones; and each is read by one model."""
    from analytics.settings import ApiSettings
    from warehouse.settings import Settings

    settings_env, api_env = Recording(), Recording()
    Settings.from_env(settings_env)
    ApiSettings.from_env(api_env)
    assert settings_env.seen | api_env.seen == set(environment.VARIABLES) - set(environment.INTERNAL)
    assert not settings_env.seen & api_env.seen
    assert {"FOOTFALL_API_PORT", "FOOTFALL_DASHBOARD_FRAME_ANCESTORS"} <= api_env.seen


@pytest.mark.slow
@pytest.mark.real_logs
def test_check_from_the_command_line_prints_the_fix_last(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {
        "FOOTFALL_REPO": str(REPO),
        "FOOTFALL_DATA_DIR": str(tmp_path / "data"),
        "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets"),
        "FOOTFALL_LOG_GLOBS": str(shared_log("apache_logs")),
    }
    done = subprocess.run(
        [sys.executable, "-m", "warehouse.cli", "check"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("error: FOOTFALL_LOG_GLOBS is not a footfall setting; did you mean")
    assert "Traceback" not in done.stderr
