"""How a setting is declared, and how a declared model is read from an environment.

A setting is a field of a frozen ``pydantic-settings`` model, declared once with :func:`setting`:
its environment variable, default, group, :class:`~warehouse.settings.values.Kind`, unit and
description. From that one declaration come the value's parsing and checks (:class:`Declared`),
the list of known variables that ``cli check`` compares the environment with
(:mod:`warehouse.environment`), and the settings reference in the docs
(:mod:`warehouse.settings.reference`).

The environment is read by :class:`EnvironSource`, a ``pydantic-settings`` source over a given
mapping rather than ``os.environ`` only: the ingest DAG builds settings from the environment with
its run's Params applied, and tests build them from plain dicts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from warehouse.settings.values import KINDS, ConfigError

# The groups of the settings reference, in its order, each with the sentence that introduces it.
GROUPS: dict[str, str] = {
    "storage": "Where footfall keeps its data and its secrets.",
    "ingest": "Which logs are read, in which format, and how they are cut into work.",
    "metrics": "The counting rules and the enrichment of the aggregates, dashboards and reports.",
    "privacy": "Keys, salts and what is removed from requests before anything is stored.",
    "retention": "How long each kind of data is kept (`footfall_retention`).",
    "reporting": "The report schedule, the reporting API and its delivery.",
    "api": "The analytics API and the dashboard (`make serve`).",
}


def setting(
    default: Any,
    env: str,
    group: str,
    kind: str,
    description: str,
    *,
    unit: str = "",
    details: str = "",
    shown_default: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare a setting: the field of a :class:`Declared` model read from variable ``env``.

    Args:
        default: the value when ``env`` is unset or empty.
        env: the environment variable (operators' name for it; never renamed).
        group: a key of :data:`GROUPS`.
        kind: a key of :data:`warehouse.settings.values.KINDS`: how the text is parsed and checked.
        description: one line, also shown by ``cli check`` after "did you mean".
        unit: of the value (``bytes``, ``s``, ``days``, ...), empty when it has none.
        details: more of the reference's description (Markdown, links relative to
            ``docs/operators/``).
        shown_default: the default as the reference shows it, when ``default`` is not it.
        secret: kept out of ``repr``.
    """
    if group not in GROUPS or kind not in KINDS:
        raise ValueError(f"{env}: unknown group {group!r} or kind {kind!r}")  # a declaration mistake
    extra = {"env": env, "group": group, "kind": kind, "unit": unit, "details": details}
    if shown_default is not None:
        extra["shown_default"] = shown_default
    return Field(default, validation_alias=env, description=description, repr=not secret, json_schema_extra=extra)


def declared_fields(model: type[BaseSettings]) -> dict[str, FieldInfo]:
    """The fields of ``model`` read from a variable, by field name, in declaration order."""
    return {
        name: field
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and "env" in field.json_schema_extra
    }


class EnvironSource(PydanticBaseSettingsSource):
    """The declared variables of a mapping, by variable name; an empty variable is unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        env = field.json_schema_extra["env"]
        return self.environ.get(env), env, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, field in declared_fields(self.settings_cls).items():
            raw, key, _ = self.get_field_value(field, name)
            if raw is not None and raw != "":
                values[key] = raw
        return values


class Declared(BaseSettings):
    """A frozen settings model whose fields are declared with :func:`setting`."""

    model_config = SettingsConfigDict(frozen=True, arbitrary_types_allowed=True, validate_by_name=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_sources):
        # Only what from_env passes: it reads the environment through EnvironSource.
        return (init_settings,)

    @field_validator("*", mode="before")
    @classmethod
    def _parse(cls, value: Any, info) -> Any:
        """A variable's text through its kind's parse; values given as Python objects pass."""
        field = declared_fields(cls).get(info.field_name)
        if field is None or not isinstance(value, str):
            return value
        extra = field.json_schema_extra
        return KINDS[extra["kind"]].parse(value, extra["env"], field.default)

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None, **overrides: Any):
        """The model built from ``env`` (``os.environ`` when None); keyword overrides (by field
        name, ``None`` ignored) win over it.

        Raises:
            ConfigError, or the error a kind's parse raised (parsers.variables.LogFormatError):
                the first setting in declaration order that is wrong, with its message alone.
        """
        values = EnvironSource(cls, os.environ if env is None else env)()
        fields = cls.model_fields
        for name, value in overrides.items():
            if value is not None:
                values[fields[name].validation_alias or name] = value
        try:
            return cls(**values)
        except ValidationError as exc:
            raise first_error(exc) from None

    def replace(self, **changes: Any):
        """A copy with ``changes`` (by field name), checked as a new model would be.

        Raises:
            ConfigError: as :meth:`read`.
        """
        try:
            return type(self).model_validate({**dict(self), **changes})
        except ValidationError as exc:
            raise first_error(exc) from None


def first_error(exc: ValidationError) -> Exception:
    """The exception behind the first error of ``exc`` (our parses' ConfigError, with its
    message), or a ConfigError naming the variable for an error pydantic found itself."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Exception):
        return cause
    where = ".".join(str(part) for part in error.get("loc", ())) or exc.title
    return ConfigError(f"{where}: {error['msg']}")
