"""The dashboard's sign-in: a token exchanged for an HttpOnly, SameSite=Strict cookie.

The page posts the token once (``POST session/``, JSON body, never a URL); the answer sets
the cookie ``footfall_session`` holding it, which scripts cannot read (HttpOnly), other sites
cannot send (SameSite=Strict), and the browser drops when it closes (no expiry). Every
endpoint accepts the cookie in place of ``Authorization: Bearer`` (analytics/params.py).
``DELETE session/`` clears it. ``GET session/`` tells the page the token's role and the days
the snapshot holds, so it can hide what the role may not see and offer "all days"; without a
valid token it answers ``data: null`` and nothing more (the page asks before anyone signed in).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from analytics import models, queries
from analytics.answers import JSON, ApiError, answer, envelope
from analytics.params import SESSION_COOKIE, presented_token
from analytics.routers.common import ERRORS, answers
from analytics.tokens import TokenRecord

router = APIRouter(tags=["session"])
SIGNED_OUT = {"data": None, "range": None, "snapshot": None}


class SignIn(BaseModel):
    token: str = Field(description="An API token (make token); sent in the body, never in a URL")


def _cookie_path(request: Request) -> str:
    # The API's own prefix, below wherever it is mounted (Airflow mounts it under /footfall).
    return request.scope.get("root_path", "") + "/api/analytics/"


def _session(identity, cur, record: TokenRecord) -> dict:
    days = queries.one(cur, "session_days")
    return {
        "token_id": record.token_id,
        "role": record.role,
        "first_day": days["first_day"],
        "newest_day": identity.newest_day.isoformat() if identity.newest_day else days["newest_day"],
    }


@router.post(
    "/session/",
    responses={200: {"model": models.envelope("SignInAnswer", models.Session)}, **ERRORS},
    summary="Sign in: exchange a token for the dashboard's session cookie",
)
async def sign_in(request: Request, body: Annotated[SignIn, Body()]) -> Response:
    """Check the token and answer with ``Set-Cookie: footfall_session`` (HttpOnly, SameSite=Strict,
    Path=/api/analytics/, Secure over https). 401 and no cookie for a token that is not valid."""
    state = request.app.state.analytics
    record = state.tokens.verify(body.token.strip())
    if record is None:
        raise ApiError(401, "this token is not valid (revoked, mistyped, or from another deployment)", "token")
    request.state.token_id = record.token_id
    with state.reader.cursor() as (identity, cur):
        body_bytes = envelope(_session(identity, cur, record), None, identity)
    response = Response(body_bytes, media_type=JSON)
    response.set_cookie(
        SESSION_COOKIE,
        body.token.strip(),
        path=_cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/session/", responses=answers("SessionAnswer", models.Session | None))
async def session(request: Request) -> Response:
    """Who the request's token (cookie or header) is, and the days of the snapshot; ``data`` is
    null (and nothing else is said) without a valid token, so the page can ask before sign-in."""
    record = request.app.state.analytics.tokens.verify(presented_token(request))
    if record is None:
        return Response(json.dumps(SIGNED_OUT), media_type=JSON)
    request.state.token_id = record.token_id
    return await answer(request, lambda identity, cur: (_session(identity, cur, record), None), cache=False)


@router.delete("/session/", status_code=204, summary="Sign out: clear the session cookie")
async def sign_out(request: Request) -> Response:
    """Clear the cookie (whether or not one was set)."""
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path=_cookie_path(request), httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response
