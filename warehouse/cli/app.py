"""The ``typer`` application, its error handling, and the helpers every command shares.

Every command that reads the warehouse's data opens it with :func:`read_only_connection`, the
one place that decides which file read commands open: the published snapshot. The few that
read the pipeline's own bookkeeping, which no snapshot holds (the report outbox, retention's
queue and pending rebuilds), use :func:`state_connection`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
import duckdb
import typer

from warehouse import snapshot, storage
from warehouse.errors import explain
from warehouse.settings import Settings

PROG = "python -m warehouse.cli"
app = typer.Typer(
    name=PROG,
    help="footfall's command line: check the configuration and the logs, read the warehouse, run maintenance.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks are for bugs: failures people can act on are one line (warehouse.errors).
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def load_settings() -> Settings:
    """The settings of this deployment, from the environment (``Settings.from_env``).

    Raises:
        warehouse.settings.ConfigError, parsers.variables.LogFormatError: shown as one line.
    """
    return Settings.from_env()


def read_only_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The connection of every read command (summary, query, export, last-interval-end): the
    published snapshot (``analytics.duckdb``), never the file the pipeline writes, so reading
    never blocks a task (warehouse/snapshot.py).

    Raises:
        FileNotFoundError: nothing has been published yet (shown as one line).
    """
    return snapshot.connect(settings.data_dir)


def state_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the pipeline's warehouse itself, for what no snapshot holds:
    the report outbox (outbox list, show) and retention's bookkeeping (retention --dry-run).

    Raises:
        FileNotFoundError: there is no warehouse yet (shown as one line).
        duckdb.IOException: a task holds it for writing (shown as one line).
    """
    return storage.connect(settings.data_dir, read_only=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status.

    Usage errors print click's message (status 2). Failures people can act on
    (:func:`warehouse.errors.explain`) print one line on standard error and no traceback.
    """
    try:
        result = app(args=list(sys.argv[1:] if argv is None else argv), prog_name=PROG, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except Exception as exc:
        explanation = explain(exc)
        if explanation is None:
            raise
        print(explanation.message, file=sys.stderr)
        return explanation.exit_code
    return result if isinstance(result, int) else 0
