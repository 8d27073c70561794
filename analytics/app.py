"""The analytics API: a FastAPI app over the published snapshot (docs/staff/api.md).

``create_app()`` builds it; ``make serve`` runs it with uvicorn (``python -m analytics serve``),
and the Airflow plugin (analytics/airflow_plugin.py) mounts the same app in Airflow's API
server. Routes live under ``/api/analytics/``; ``/`` serves the dashboard (``web/``, analytics/web.py).

Privacy: the access log (logger ``footfall.api.access``) records method, path and query,
status, duration and the token's id; never the client address, a header, a token or a key.
uvicorn's own access log, which records client addresses, is switched off by ``serve``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from analytics.answers import JSON, AnswerCache, ApiError, error_body
from analytics.reader import NoSnapshot, SnapshotReader
from analytics.routers import content, session, site, visitors
from analytics.settings import ApiSettings
from analytics.tokens import TokenStore
from analytics.web import DashboardFiles
from warehouse.settings import Settings

PREFIX = "/api/analytics"
log = logging.getLogger("footfall.api")
access_log = logging.getLogger("footfall.api.access")


@dataclass
class AnalyticsState:
    """What the requests share: the snapshot reader, the token store, the answer cache, and the
    setting the queries bind (``growth_stable_pct``: FOOTFALL_GROWTH_STABLE_PCT)."""

    reader: SnapshotReader
    tokens: TokenStore
    cache: AnswerCache
    growth_stable_pct: float


def _error(status: int, message: str, parameter: str | None = None, headers: dict | None = None) -> Response:
    return Response(error_body(status, message, parameter), status_code=status, media_type=JSON, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error answer has the one error shape, and none carries data or a stack trace."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.message, exc.parameter, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
        parameter = location[0] if location else None
        return _error(422, f"{parameter}: {first.get('msg', 'invalid value')}", parameter)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(NoSnapshot)
    async def no_snapshot(request: Request, exc: NoSnapshot) -> Response:
        return _error(503, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error answering %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _error(500, "internal error; the server log says what happened")


class AccessLog:
    """ASGI middleware logging one line per request, without the client's address or headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                query = scope.get("query_string", b"").decode("latin-1")
                token = scope.get("state", {}).get("token_id", "-")
                access_log.info(
                    "%s %s%s %d %.1fms token=%s",
                    scope["method"], scope.get("root_path", "") + scope["path"], f"?{query}" if query else "",
                    status, 1000 * (time.perf_counter() - started), token,
                )  # fmt: skip


def create_app(settings: Settings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """The analytics API for the data dir and secrets dir of ``settings`` (default: the environment).

    Nothing is opened here: the snapshot on the first request, the token store on the first
    authenticated one.

    Raises:
        warehouse.settings.ConfigError: a setting is wrong (the message says which).
    """
    settings = settings or Settings.from_env()
    api = api or ApiSettings.from_env()
    app = FastAPI(
        title="footfall analytics API",
        version="1",
        description="Read-only visitor analytics from the published snapshot of the footfall warehouse. "
        "Every request needs `Authorization: Bearer <token>` (`make token ROLE=analyst|viewer`). "
        "Documentation for people: docs/staff/api.md.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.analytics = AnalyticsState(
        reader=SnapshotReader(Path(settings.data_dir)),
        tokens=TokenStore(Path(settings.secrets_dir)),
        cache=AnswerCache(api.cache_entries),
        growth_stable_pct=settings.growth_stable_pct,
    )
    for module in (session, visitors, site, content):
        app.include_router(module.router, prefix=PREFIX)
    _install_error_handlers(app)
    # Last: routes above win; everything else is the dashboard's files (web/).
    app.mount("/", DashboardFiles(api.frame_ancestors), name="dashboard")
    app.add_middleware(AccessLog)
    return app
