"""The environment variables footfall reads, and the check for unknown ones.

The names are those of the settings' declarations (:mod:`warehouse.settings.model`,
:mod:`warehouse.settings.api`): a setting is read only through its declaration, so a declared name
is what :func:`unknown_variables` accepts. An unknown ``FOOTFALL_*`` or ``VISIT_TRACKING_*``
variable is almost always a typo (``FOOTFALL_LOG_GLOBS``, ``FOOTFALL_TIMEZON``) that would
otherwise be ignored silently: ``python -m warehouse.cli check`` fails on it, naming the closest
known variable, and the ingest DAG's first task logs the same as a warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from warehouse.settings.reference import PAGE, variables

# The prefixes footfall owns: a variable with one of them that is not declared is reported.
PREFIXES = ("FOOTFALL_", "VISIT_TRACKING_")

# Variables footfall reads that are not settings: the repository root (Makefile, airflow.cfg)
# and the test-only crash switch of warehouse/failpoints.py.
INTERNAL: dict[str, str] = {
    "FOOTFALL_REPO": "the repository root, set by the Makefile",
    "FOOTFALL_FAILPOINT": "test only: crash at the named failpoint",
}

# name -> what it sets, one line (the settings reference has the defaults and details).
VARIABLES: dict[str, str] = variables() | INTERNAL


def _stem(name: str) -> str:
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def closest_known(name: str) -> str | None:
    """The declared variable most like ``name``, or None.

    Compared without their prefixes (``difflib``, similarity at least 0.6): the shared
    ``FOOTFALL_`` would make every name look alike, and a setting under the wrong prefix
    (``FOOTFALL_ENABLED``) is found under the right one (``VISIT_TRACKING_ENABLED``).
    """
    stems = {_stem(known): known for known in VARIABLES}
    matches = difflib.get_close_matches(_stem(name), stems, n=1, cutoff=0.6)
    return stems[matches[0]] if matches else None


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Variables of ``env`` with a footfall prefix (:data:`PREFIXES`) that footfall does not read.

    Returns:
        ``(name, closest known name or None)`` pairs, sorted by name.
    """
    names = sorted(n for n in env if n.startswith(PREFIXES) and n not in VARIABLES)
    return [(name, closest_known(name)) for name in names]


def describe_unknown(unknown: list[tuple[str, str | None]]) -> str:
    """One line per unknown variable, saying what it is probably meant to be."""
    lines = []
    for name, known in unknown:
        if known is None:
            lines.append(f"{name} is not a footfall setting ({PAGE} lists them); unset it")
        else:
            lines.append(f"{name} is not a footfall setting; did you mean {known} ({VARIABLES[known]})?")
    return "\n".join(lines)
