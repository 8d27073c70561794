"""A non-editable install carries everything the code opens: the wheel of this checkout holds
every module and every SQL file of the packages, the dashboard's page (``web/``), the report
payloads' JSON Schemas (``schemas/``) and the compiled tokenizer, and the installed code finds
them where the wheel put them, not in the repository."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

PACKAGES = ("parsers", "transforms", "warehouse", "analytics")
# Top-level directories of the repository installed under another name (pyproject.toml).
INSTALLED_AS = {"web": "analytics/static", "schemas": "warehouse/report_schemas"}


def source_files() -> list[str]:
    """The checkout's files as git sees them (tracked, and new but not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return [name for name in listed if name and (REPO / name).is_file()]


def expected_in_wheel(files: list[str]) -> set[str]:
    """Where each file the code may open lands in the wheel, from the repository's own listing."""
    expected = set()
    for name in files:
        top = name.split("/", 1)[0]
        if top in PACKAGES and not name.endswith((".c", ".h")):
            expected.add(name)
        elif top in INSTALLED_AS:
            expected.add(INSTALLED_AS[top] + name[len(top) :])
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built as ``make venv`` builds footfall (isolated build,
    pyproject.toml's pinned setuptools), from a copy so that the checkout gets no build/."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    with tarfile.open(tmp / "src.tar", "w") as tar:
        for name in source_files():
            tar.add(REPO / name, arcname=name)
    with tarfile.open(tmp / "src.tar") as tar:
        tar.extractall(src, filter="data")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--quiet", "--wheel-dir", str(tmp / "out")],
        check=True,
        capture_output=True,
    )
    (built,) = (tmp / "out").glob("footfall-*.whl")
    return built


def test_the_wheel_holds_every_module_sql_file_page_and_schema(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = expected_in_wheel(source_files())
    assert {"warehouse/views/001_macros.sql", "analytics/static/index.html"} <= expected  # the listing works
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    assert any(n.startswith("parsers/_tokenizer.") and n.endswith(".so") for n in names), "no compiled tokenizer"


def test_the_installed_code_finds_its_files_in_the_install(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = """
import json, sys
import analytics.queries, analytics.web, parsers._tokenizer, transforms.models.catalogue
import warehouse.reporting.reports, warehouse.snapshot, warehouse.storage
dirs = {
    "web": analytics.web.WEB_DIR,
    "schemas": warehouse.reporting.reports.SCHEMAS_DIR,
    "views": warehouse.storage.VIEWS_DIR,
    "ddl": warehouse.storage.DDL_DIR,
    "models": transforms.models.catalogue.MODELS_DIR,
    "api_sql": analytics.queries.SQL_DIR,
    "snapshot_sql": warehouse.snapshot.ANALYTICS_SQL_DIR,
}
found = {k: [str(v.resolve()), sorted(p.name for p in v.iterdir())] for k, v in dirs.items()}
found["tokenizer"] = [parsers._tokenizer.__file__, []]
print(json.dumps(found))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    for what, (where, _listing) in found.items():
        assert Path(where).is_relative_to(site.resolve()), f"{what} read from {where}, not the install"
    assert "index.html" in found["web"][1] and "visits.schema.json" in found["schemas"][1]
    assert len(found["views"][1]) == len(list((REPO / "warehouse" / "views").glob("*.sql")))
