"""The settings reference, docs/operators/settings.md, generated from the declarations.

``python -m warehouse.settings --markdown`` prints it; ``tests/test_settings_reference.py``
fails when the committed page differs.
"""

from __future__ import annotations

from pathlib import Path

from warehouse.settings.api import ApiSettings
from warehouse.settings.declare import GROUPS, declared_fields
from warehouse.settings.model import REPO_ROOT, Settings
from warehouse.settings.values import KINDS

MODELS = (Settings, ApiSettings)
PAGE = Path("docs") / "operators" / "settings.md"
COMMAND = ".venv/bin/python -m warehouse.settings --markdown > docs/operators/settings.md"

_INTRO = f"""\
# Settings

<!-- Generated from warehouse/settings/model.py and warehouse/settings/api.py by
     `{COMMAND}`: edit the declarations, not this page. -->

footfall is configured through environment variables, read once into
`warehouse.settings.Settings` (the analytics API's into `warehouse.settings.ApiSettings`). An
empty variable is the same as an unset one. A misconfiguration fails at once with a message
naming what to fix: an unknown `FOOTFALL_*` or `VISIT_TRACKING_*` variable
(`FOOTFALL_LOG_GLOBS is not a footfall setting; did you mean FOOTFALL_LOG_GLOB`), an unknown
variable in the log format (`unknown nginx variable $remote_adr ... Did you mean $remote_addr?`),
a malformed number, secrets inside the data dir or open to other users (the message gives the
`chmod` to run), or reporting enabled without an http(s) URL (this one stops report delivery
only, not ingestion). `python -m warehouse.cli check` checks them all before a first run
([before the first run](operations.md#before-the-first-run)).
"""


def variables() -> dict[str, str]:
    """Every declared variable and its one-line description, in the reference's order."""
    return {
        field.json_schema_extra["env"]: field.description
        for model in MODELS
        for field in declared_fields(model).values()
    }


def _default(field) -> str:
    extra = field.json_schema_extra
    if "shown_default" in extra:
        return extra["shown_default"]
    value = field.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value.relative_to(REPO_ROOT)}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """The whole page: an introduction, then one table per group of :data:`GROUPS`."""
    rows: dict[str, list[str]] = {group: [] for group in GROUPS}
    for model in MODELS:
        for field in declared_fields(model).values():
            extra = field.json_schema_extra
            description = field.description + (f"; {extra['details']}" if extra["details"] else "")
            cells = (f"`{extra['env']}`", KINDS[extra["kind"]].shown, _default(field), extra["unit"], description)
            rows[extra["group"]].append("| " + " | ".join(_cell(c) for c in cells) + " |")
    parts = [_INTRO]
    for group, intro in GROUPS.items():
        if rows[group]:
            header = "| variable | type | default | unit | description |\n|---|---|---|---|---|"
            title = "API" if group == "api" else group.capitalize()
            parts.append(f"## {title}\n\n{intro}\n\n{header}\n" + "\n".join(rows[group]) + "\n")
    return "\n".join(parts)
