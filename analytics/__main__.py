"""``python -m analytics``: serve the analytics API, and manage its tokens.

serve                                  the API on FOOTFALL_API_HOST:FOOTFALL_API_PORT (make serve)
token create --role analyst|viewer     a new token, printed once as the last line (make token)
token list                             the tokens: id, role, label, creation time (never the token)
token revoke ID                        refuse that token from the next request on
report [--from D] [--to D] [--output F] the one-file HTML report (make report)
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

# No local variables in tracebacks: a token being created must never reach a terminal or a log.
_OPTIONS = {"add_completion": False, "no_args_is_help": True, "pretty_exceptions_show_locals": False}
app = typer.Typer(help=__doc__.splitlines()[0], **_OPTIONS)
token_app = typer.Typer(help="Create, list and revoke API tokens.", **_OPTIONS)
app.add_typer(token_app, name="token")


def _fail(message: str) -> None:
    """A misconfiguration: its message, once, as the last thing printed; exit status 2."""
    typer.echo(f"configuration error: {message}", err=True)
    raise typer.Exit(2)


def _settings():
    from warehouse.settings import Settings

    try:
        return Settings.from_env()
    except ValueError as exc:  # ConfigError, LogFormatError
        _fail(str(exc))


def _store():
    from analytics.tokens import TokenStore

    return TokenStore(_settings().secrets_dir)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default FOOTFALL_API_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Default FOOTFALL_API_PORT (8000)")] = None,
) -> None:
    """Serve the API with one uvicorn worker on the published snapshot of FOOTFALL_DATA_DIR."""
    import uvicorn

    from analytics.app import create_app
    from analytics.settings import ApiSettings

    settings = _settings()
    try:
        api = ApiSettings.from_env()
    except ValueError as exc:
        _fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    application = create_app(settings, api)
    typer.echo(
        f"footfall analytics API on http://{host or api.host}:{port or api.port}/api/analytics/ "
        f"(snapshot: {settings.data_dir / 'analytics.duckdb'}; docs: /api/analytics/docs)",
        err=True,
    )
    # uvicorn's access log records client addresses: footfall's own (analytics.app.AccessLog) does not.
    uvicorn.run(application, host=host or api.host, port=port or api.port, access_log=False, log_config=None)


@app.command()
def report(
    from_: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: first day of data)")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: newest day of data)")] = None,
    site: Annotated[str | None, typer.Option(help="The site (FOOTFALL_LOG_SOURCES label) it is about")] = None,
    output: Annotated[str | None, typer.Option(help="Default $FOOTFALL_DATA_DIR/report.html")] = None,
) -> None:
    """Write the one-file HTML report of the published snapshot; prints its path as the last line."""
    import datetime as dt
    from pathlib import Path

    from analytics.reader import NoSnapshot
    from analytics.report import ReportError, write_report

    settings = _settings()
    try:
        start, end = (dt.date.fromisoformat(v) if v else None for v in (from_, to))
    except ValueError as exc:
        _fail(f"--from/--to must be days as YYYY-MM-DD: {exc}")
    target = Path(output) if output else Path(settings.data_dir) / "report.html"
    try:
        written = write_report(Path(settings.data_dir), target, start, end, site)
    except (ReportError, NoSnapshot) as exc:
        _fail(str(exc))
    typer.echo(
        f"report of {written.start} to {written.end}: {written.size / 1e6:.2f} MB, open it in a browser:", err=True
    )
    typer.echo(str(written.path.resolve()))


@token_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="analyst (every endpoint) or viewer (site totals only)")] = "viewer",
    label: Annotated[str, typer.Option(help="Who or what the token is for")] = "",
) -> None:
    """Create a token. It is printed once, as the last line, and stored only as a keyed hash."""
    from analytics.tokens import TokenError

    try:
        record, token = _store().create(role, label)
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created token {record.token_id} with role {record.role}; it is shown once, keep it secret:")
    typer.echo(token)


@token_app.command("list")
def list_tokens() -> None:
    """The tokens: id, role, creation time, label (never the token)."""
    records = _store().records()
    for record in records:
        typer.echo(f"{record.token_id}  {record.role:<8}  {record.created_at}  {record.label}")
    if not records:
        typer.echo("no tokens (make token ROLE=analyst|viewer)", err=True)


@token_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The id from `token list`")]) -> None:
    """Revoke a token: the API refuses it from its next request on."""
    from analytics.tokens import TokenError

    try:
        record = _store().revoke(token_id)
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked token {record.token_id} ({record.role}{', ' + record.label if record.label else ''})")


if __name__ == "__main__":
    sys.exit(app())
