"""Who is asking: signed-cookie sessions, CSRF tokens, bearer tokens, and role checks.

Pages and the JSON API share one session cookie (Starlette's SessionMiddleware, signed
with itsdangerous, HttpOnly, SameSite=Lax) that holds only a random session id and the
CSRF token; the session itself (who, until when) is a row in the store. Every form POST
carries the session's CSRF token in a hidden field; every unsafe API request carries
it in the ``X-CSRF-Token`` header, unless it comes from a hotline node with a bearer API
token instead of a session. An engineer asking for someone else's call gets 404, as if it did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import HTTPException, Request

from models.schema import utc_key
from web.users import api_token_owner

Role = Literal["supervisor", "engineer", "node"]
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SESSION_MAX_AGE_S = 12 * 3600
_UNSET = object()


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


class LoginRequired(Exception):
    """A page needs a signed-in user; the app turns this into a redirect to /login."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, token: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and token and hmac.compare_digest(expected, token))


def _session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(request: Request, name: str, role: str) -> None:
    # A fresh session (and CSRF token) at sign-in, so a planted cookie is worth nothing.
    # The cookie carries only a random session id; the session itself lives in the store,
    # so signing out, disabling, deleting or re-roling the user ends it at once.
    request.session.clear()
    session_id = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=SESSION_MAX_AGE_S)
    request.app.state.console.store.add_session(_session_digest(session_id), name, utc_key(expires))
    request.session["sid"] = session_id
    csrf_token(request)


def sign_out(request: Request) -> None:
    session_id = request.session.get("sid")
    if isinstance(session_id, str):
        request.app.state.console.store.end_session(_session_digest(session_id))
    request.session.clear()


def session_principal(request: Request) -> Principal | None:
    """The signed-in user as the store knows them now (role included), or None."""
    cached = getattr(request.state, "principal", _UNSET)
    if cached is not _UNSET:
        return cached
    principal = None
    session_id = request.session.get("sid")
    if isinstance(session_id, str) and session_id:
        user = request.app.state.console.store.session_user(_session_digest(session_id))
        if user is not None and user.role in ("supervisor", "engineer"):
            principal = Principal(name=user.name, role=user.role)
    request.state.principal = principal
    return principal


def session_still_valid(request: Request, user: Principal) -> Callable[[], bool]:
    """For a long-lived response (the live event stream): whether the session it was opened
    with is still there with the same role, asked again while it runs."""
    session_id = request.session.get("sid")
    store = request.app.state.console.store
    digest = _session_digest(session_id) if isinstance(session_id, str) else ""

    def check() -> bool:
        found = store.session_user(digest) if digest else None
        return found is not None and found.name == user.name and found.role == user.role

    return check


def page_user(request: Request) -> Principal:
    """Dependency for HTML pages: the signed-in user, or a redirect to the sign-in page."""
    user = session_principal(request)
    if user is None:
        raise LoginRequired()
    return user


def page_supervisor(request: Request) -> Principal:
    user = page_user(request)
    if not user.is_supervisor:
        raise HTTPException(status_code=403, detail="只有主管可以查看此页 (supervisors only)")
    return user


def api_principal(request: Request) -> Principal:
    """Dependency for the JSON API: a bearer-token node, or a session (+ CSRF header to write)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        owner = api_token_owner(request.app.state.console.store, header[7:].strip())
        if owner is None:
            raise HTTPException(status_code=401, detail="unknown API token (never issued, or revoked)")
        return Principal(name=owner, role="node")
    user = session_principal(request)
    if user is None:
        raise HTTPException(status_code=401, detail="sign in first (POST /login) or send a bearer API token")
    if request.method not in SAFE_METHODS and not csrf_ok(request, request.headers.get(CSRF_HEADER)):
        raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token header")
    return user


def api_person(request: Request) -> Principal:
    """A signed-in person (not a node token)."""
    user = api_principal(request)
    if user.role == "node":
        raise HTTPException(status_code=403, detail="API tokens may only post calls and live events")
    return user


def api_supervisor(request: Request) -> Principal:
    user = api_principal(request)
    if user.role != "supervisor":
        raise HTTPException(status_code=403, detail="supervisors only")
    return user


def can_see_call(user: Principal, call_engineer: str | None) -> bool:
    return call_engineer is not None and (user.role == "supervisor" or call_engineer == user.name)
