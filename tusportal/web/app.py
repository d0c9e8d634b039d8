"""create_app: the ASGI application, given its dependencies (wired in cli.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tusportal.errors import TusError
from tusportal.events.management import EventManagement
from tusportal.events.monitor import EventMonitor
from tusportal.service import BatchService, UploadService
from tusportal.service.accounts import AccountService
from tusportal.service.files import FileCatalog
from tusportal.service.sessions import SessionService
from tusportal.settings import Settings
from tusportal.web import errors
from tusportal.web.accounts import accounts_web
from tusportal.web.api_batches import BatchEndpoints
from tusportal.web.api_events import EventEndpoints
from tusportal.web.middleware import MethodOverride, TusResumableHeader
from tusportal.web.observability import RequestContext, metrics_endpoint
from tusportal.web.readiness import CachedChecks
from tusportal.web.tus import EXPOSED_HEADERS, TusConfig, TusEndpoints, extensions_for
from tusportal.web.ui import assets
from tusportal.web.ui.deps import UIDeps
from tusportal.web.ui.routes import ui_routes

Hook = Callable[[], Awaitable[Any]]


def create_app(
    settings: Settings,
    service: UploadService,
    *,
    startup: Hook | None = None,
    shutdown: Hook | None = None,
    readiness: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    batches: BatchService | None = None,
    events: EventManagement | None = None,
    metrics_refresh: Hook | None = None,
    accounts: AccountService | None = None,
    sessions: SessionService | None = None,
    files: FileCatalog | None = None,
    event_monitor: EventMonitor | None = None,
) -> Starlette:
    """The web UI is served when every service it shows is given (batches, events, files,
    event_monitor)."""
    base_path = settings.normalized_base_path()
    auth_required = settings.auth == "required"
    account_middleware, account_routes = accounts_web(settings, accounts, sessions)
    tus = TusEndpoints(
        service,
        TusConfig(
            base_path=base_path,
            public_base_url=settings.public_base_url,
            trust_proxy_headers=settings.trust_proxy_headers,
            max_size=settings.max_size,
            extensions=extensions_for(service.store),
            auth=auth_required,
        ),
    )
    ready = {"ok": False}
    checks_now = CachedChecks(readiness) if readiness else None

    async def healthz(request: Request) -> Response:
        if not ready["ok"]:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await checks_now() if checks_now else {}
        ok = ready["ok"] and all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if startup:
            await startup()
        ready["ok"] = True
        try:
            yield
        finally:
            ready["ok"] = False
            if shutdown:
                await shutdown()

    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    middleware = [
        Middleware(RequestContext),
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
            max_age=86400,
        ),
        Middleware(MethodOverride),
        Middleware(TusResumableHeader, base_path=base_path),
    ]
    middleware.append(account_middleware)  # innermost: sees the overridden method
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint(metrics_refresh), methods=["GET"]),
        *tus.routes(),
        *account_routes,
    ]
    if batches is not None:
        routes += BatchEndpoints(batches).routes()
    if events is not None:
        routes += EventEndpoints(events).routes()
    if batches is not None and events is not None and files is not None and event_monitor is not None:
        routes += ui_routes(
            UIDeps(
                uploads=service,
                files=files,
                batches=batches,
                events=events,
                monitor=event_monitor,
                tus_base=base_path,
                node_modules=assets.node_modules(settings.assets_dir),
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={TusError: errors.tus_error, Exception: errors.unexpected_error},
        lifespan=lifespan,
    )
