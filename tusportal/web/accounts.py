"""The accounts part of the web app in one call for create_app: the authentication middleware and
the account routes (pages and JSON API), configured from Settings."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import Route

from tusportal.service.accounts import AccountService
from tusportal.service.sessions import SessionService
from tusportal.settings import Settings
from tusportal.web.accounts_pages import AccountPages, PagesConfig
from tusportal.web.api_tokens import TokenEndpoints
from tusportal.web.auth import Authentication, Authenticator, CookiePolicy


def accounts_web(
    settings: Settings, accounts: AccountService | None, sessions: SessionService | None
) -> tuple[Middleware, list[Route]]:
    """With TUSPORTAL_AUTH=required both services are needed; with none, neither is used."""
    cookies = CookiePolicy(secure=settings.cookie_secure, session_max_age=int(settings.session_max_seconds))
    authenticator = None
    routes: list[Route] = []
    if settings.auth == "required":
        if accounts is None or sessions is None:
            raise ValueError("TUSPORTAL_AUTH=required needs the account and session services")
        authenticator = Authenticator(
            accounts.principal_for_token,
            sessions.resolve,
            session_idle_seconds=settings.session_idle_seconds,
        )
        routes += TokenEndpoints(accounts).routes()
    pages = AccountPages(
        PagesConfig(
            registration_open=settings.registration == "open",
            trust_proxy_headers=settings.trust_proxy_headers,
        ),
        cookies,
        accounts=accounts if authenticator else None,
        sessions=sessions if authenticator else None,
        authenticator=authenticator,
    )
    routes += pages.routes()
    middleware = Middleware(
        Authentication,
        authenticator=authenticator,
        base_path=settings.normalized_base_path(),
        cookies=cookies,
    )
    return middleware, routes
