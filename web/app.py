"""The console app factory: ``create_app(store, secret_key=...)`` -> FastAPI.

Wiring only: sessions, metrics, error pages, the page and API routers, static files.
The lead's ``deskline console`` / ``deskline serve`` call this with the configured
rules, live hub and line calendars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from models.store import Conflict, NotFound, Store
from web import api, callbacks, pages
from web.auth import SESSION_MAX_AGE_S, LoginRequired
from web.console import Console, Scorer, ScoringUnavailable
from web.docs import DOCS_ASSETS, add_api_docs
from web.limits import MAX_BODY_BYTES, BodyLimit, SecurityHeaders
from web.live import LiveHub
from web.metrics import build_registry, check_scraper, latency_middleware
from web.recordings import resolve_roots
from web.throttle import LoginThrottle

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    store: Store,
    *,
    secret_key: str,
    rules: Any = None,
    live_events: LiveHub | None = None,
    calendars: dict[str, Any] | None = None,
    https_only: bool = False,
    scorer: Scorer | None = None,
    audio_roots: list[Path] | None = None,
    metrics_token: str = "",
    login_throttle: LoginThrottle | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    node_gauges: Any = None,
) -> FastAPI:
    """The console on ``store``.

    ``rules``: the RuleSet used to rescore after a review and to check written replies
    (default: the shipped rule file). ``live_events``: the hub the hotline publishes to
    (a new, empty one if None). ``calendars``: line id -> ``routing`` LineCalendar for the
    hours page. ``https_only``: send the session cookie over HTTPS only. ``scorer``:
    replaces ``speech.qa.scoring.score_findings`` (for tests of the review logic).
    ``audio_roots``: folders a served recording must resolve into (None = no confinement;
    the configured console always passes them). ``metrics_token``: the bearer token
    /metrics needs ("" = loopback clients only). ``login_throttle``: limits failed
    sign-ins (a default one if None; tests pass one with their own clock). ``max_body_bytes``:
    the largest request body accepted (413 beyond it).
    """
    if len(secret_key) < 16:
        raise ValueError("secret_key must be at least 16 characters")
    app = FastAPI(
        title="Deskline console",
        version="0.1.0",
        description="桌面运维热线 质检控制台 — JSON API (session + X-CSRF-Token header, or a bearer token)",
        # Served below, behind sign-in, from files shipped with the console (no CDN).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    hub = live_events or LiveHub()
    app.state.console = Console(store=store, hub=hub, rules=rules, calendars=calendars or {}, scorer=scorer)
    app.state.audio_roots = resolve_roots(audio_roots)
    app.state.login_throttle = LoginThrottle() if login_throttle is None else login_throttle
    registry, latency = build_registry(store, hub, node_gauges)

    app.middleware("http")(latency_middleware(latency))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie="deskline_session",
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=https_only,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    add_api_docs(app)
    app.include_router(api.router)
    app.include_router(callbacks.api_router)
    app.include_router(pages.router)
    app.include_router(callbacks.page_router)
    app.state.callback_dialer = None  # set by `deskline serve` (its hotline node places callbacks)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        check_scraper(request, metrics_token)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return _error(request, 409, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(ScoringUnavailable)
    async def no_scoring(request: Request, exc: ScoringUnavailable) -> Response:
        return _error(request, 503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {
                    "detail": f"bad input: {problems}",
                    "errors": jsonable_encoder(
                        [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
                    ),
                },
                status_code=422,
            )
        return pages.error_page(request, 422, f"输入有误 (bad input): {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    return app


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # Scrapers and scripts read JSON, not the HTML error page.
    if request.url.path.startswith("/api/") or request.url.path == "/metrics":
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return pages.error_page(request, status, message)
