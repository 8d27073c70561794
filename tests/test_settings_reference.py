"""The settings are declared once: the reference page is what the declarations generate, lists
every variable the settings read, and nothing else repeats it."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

from warehouse import environment
from warehouse.settings import ApiSettings, ConfigError, Settings
from warehouse.settings.declare import GROUPS, declared_fields
from warehouse.settings.reference import COMMAND, PAGE, markdown


def test_the_committed_reference_is_the_generated_one():
    committed = (REPO / PAGE).read_text()
    assert committed == markdown(), f"{PAGE} is out of date with the settings' declarations: run\n    {COMMAND}"


def test_the_reference_lists_exactly_the_variables_read(footfall_env):
    """Compared with the names the models actually read from an environment, not with the
    declarations the page is generated from."""

    class Recording(dict):
        def __init__(self):
            super().__init__()
            self.seen = set()

        def get(self, name, default=None):
            self.seen.add(name)
            return super().get(name, default)

    read = Recording()
    Settings.from_env(read)
    ApiSettings.from_env(read)
    listed = re.findall(r"^\| `([A-Z_]+)` \|", (REPO / PAGE).read_text(), flags=re.M)
    assert len(listed) == len(set(listed))
    assert set(listed) == read.seen
    assert set(environment.VARIABLES) == read.seen | set(environment.INTERNAL)


def test_no_other_page_repeats_the_settings_table():
    readme = (REPO / "README.md").read_text()
    assert not re.search(r"^\| `FOOTFALL_", readme, flags=re.M)
    assert "docs/index.md" in readme


def test_every_declared_setting_has_a_group_kind_and_description():
    for model in (Settings, ApiSettings):
        for name, field in declared_fields(model).items():
            extra = field.json_schema_extra
            assert extra["group"] in GROUPS, name
            assert field.description and not field.description.endswith("."), name


def dirs(tmp_path) -> dict[str, str]:
    return {"FOOTFALL_DATA_DIR": str(tmp_path / "data"), "FOOTFALL_SECRETS_DIR": str(tmp_path / "secrets")}


def test_settings_are_frozen_and_hide_their_secrets(tmp_path):
    settings = Settings.from_env(
        dirs(tmp_path) | {"FOOTFALL_HASH_KEY": "hash-key-1234", "VISIT_TRACKING_API_TOKEN": "token-5678"}
    )
    with pytest.raises(ValueError, match="frozen"):
        settings.chunk_bytes = 1
    assert "hash-key-1234" not in repr(settings) and "token-5678" not in repr(settings)
    assert settings.hash_key == "hash-key-1234"


def test_a_replaced_setting_is_checked_again(tmp_path):
    settings = Settings.from_env(dirs(tmp_path))
    assert settings.replace(report_batch=3).report_batch == 3
    with pytest.raises(ConfigError, match="VISIT_TRACKING_API_TOKEN .*contains spaces"):
        settings.replace(visit_tracking_api_token="a b")


def test_an_empty_variable_is_unset_and_a_blank_list_is_its_default(tmp_path):
    settings = Settings.from_env(dirs(tmp_path) | {"FOOTFALL_CHUNK_BYTES": "", "FOOTFALL_SITE_HOSTS": "  "})
    assert settings.chunk_bytes == 8 * 1024 * 1024
    assert settings.site_hosts == ()
