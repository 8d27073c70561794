"""``python -m warehouse.settings --markdown``: print the settings reference (docs/operators/settings.md)."""

from __future__ import annotations

import sys

from warehouse.settings.reference import COMMAND, markdown


def main(argv: list[str]) -> int:
    if argv != ["--markdown"]:
        print(f"usage: python -m warehouse.settings --markdown\n(to update the docs: {COMMAND})", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
