"""The dashboard (the ``web/`` folder) served at ``/`` of the API server, with a strict
Content-Security-Policy on every file.

The page is static: plain HTML, CSS and JavaScript modules, and the vendored charting library
(``web/vendor/``); it reads the same endpoints as any API client. The policy allows scripts,
styles, images and requests from the page's own origin only: no inline script or style, no
``eval``, no foreign origin, no plugin, no form posting elsewhere; ``frame-ancestors`` lets the
Airflow UI show it in its "Analytics" view (same origin when mounted by the Airflow plugin;
other origins through ``FOOTFALL_DASHBOARD_FRAME_ANCESTORS``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# In the repository the page is web/; an installed wheel carries it as package data,
# analytics/static (pyproject.toml).
_INSTALLED_WEB_DIR = Path(__file__).with_name("static")
WEB_DIR = _INSTALLED_WEB_DIR if _INSTALLED_WEB_DIR.is_dir() else Path(__file__).resolve().parents[1] / "web"


def content_security_policy(frame_ancestors: str = "'self'") -> str:
    """The dashboard's policy; ``frame_ancestors`` is the source list of the pages that may frame it."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


class DashboardFiles(StaticFiles):
    """``web/`` as static files, each answer carrying the security headers."""

    def __init__(self, frame_ancestors: str = "'self'", directory: Path = WEB_DIR) -> None:
        super().__init__(directory=directory, html=True)
        self.headers = {
            "Content-Security-Policy": content_security_policy(frame_ancestors),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            # Revalidated each time: a deployment's new page is seen at the next load.
            "Cache-Control": "no-cache",
        }

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(self.headers)
        return response
