"""Command line for people and the Makefile: ``python -m warehouse.cli <command>`` (``--help``).

Commands: ``check`` (the preflight of ``make run``), ``summary``, ``query``, ``export``,
``last-interval-end`` (read the published snapshot), ``reingest``, ``rebuild``, ``publish``,
``retention`` (write), and
``outbox list|show|retry|discard|deliver``. Each module registers its commands on
:data:`warehouse.cli.app.app`; failures people can act on are printed as one line
(:mod:`warehouse.errors`).
"""

from warehouse.cli import check, data, maintenance, outbox, summary  # noqa: F401  (register the commands)
from warehouse.cli.app import app, main, read_only_connection, state_connection
from warehouse.cli.maintenance import rebuild
from warehouse.cli.summary import last_interval_end

__all__ = ["app", "last_interval_end", "main", "read_only_connection", "rebuild", "state_connection"]
