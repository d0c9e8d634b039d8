"""The account pages of the browser UI: sign-in, sign-out, registration, the account page with the
password change, and the API tokens page. Templates are in ui/templates/account/.

Every form posts `csrf_token` (checked by the auth middleware). A failed action shows the form again
with the error and the error's status (400, 404, 409, 413 or 429 with Retry-After), never a 500.
With `TUSPORTAL_AUTH=none` only the GET pages exist, and they say that accounts are off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tusportal.auth import Principal
from tusportal.errors import InvalidRequestBody, TusError
from tusportal.service.accounts import AccountService
from tusportal.service.sessions import Login, SessionService
from tusportal.web.api_tokens import token_state
from tusportal.web.auth import SESSION_COOKIE, Authenticator, CookiePolicy, principal
from tusportal.web.forms import read_form
from tusportal.web.redirects import local_path
from tusportal.web.ui import render


class RegistrationClosed(TusError):
    status = 404
    code = "registration_closed"
    message = "this server does not take registrations (TUSPORTAL_REGISTRATION=closed)"


class PasswordsDiffer(TusError):
    status = 400
    code = "passwords_differ"
    message = "the two passwords differ"


@dataclass(frozen=True)
class PagesConfig:
    registration_open: bool = False
    trust_proxy_headers: bool = False


def client_address(request: Request, trust_proxy_headers: bool) -> str:
    """The address the login throttle counts under: the peer, or behind a trusted proxy the
    address that proxy saw (the last X-Forwarded-For entry; earlier ones are the client's word)."""
    if trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


def _page_error(request: Request, name: str, context: dict[str, Any], exc: TusError) -> Response:
    response = render(request, name, {**context, "error": exc.detail}, status_code=exc.status)
    response.headers.update(exc.headers)
    return response


class AccountPages:
    def __init__(
        self,
        config: PagesConfig,
        cookies: CookiePolicy,
        *,
        accounts: AccountService | None,
        sessions: SessionService | None,
        authenticator: Authenticator | None,
    ):
        self.config = config
        self.cookies = cookies
        self.accounts = accounts
        self.sessions = sessions
        self.authenticator = authenticator

    def routes(self) -> list[Route]:
        if self.sessions is None:  # anonymous mode
            return [Route(p, self.off, methods=["GET"]) for p in ("/login", "/account", "/tokens")]
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/register", self.register, methods=["GET", "POST"]),
            Route("/account", self.account, methods=["GET"]),
            Route("/account/password", self.change_password, methods=["POST"]),
            Route("/tokens", self.tokens, methods=["GET", "POST"]),
            Route("/tokens/{token_id}/revoke", self.revoke_token, methods=["POST"]),
        ]

    async def off(self, request: Request) -> Response:
        return render(request, "account/off.html")

    # --- sign-in and sign-out --------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        assert self.sessions is not None
        if request.method == "GET":
            target = local_path(request.query_params.get("next"))
            if principal(request) is not None:
                return RedirectResponse(target, status_code=303)
            return render(request, "account/login.html", self._login_context(target, ""))
        fields = await read_form(request)
        target, email = local_path(fields.get("next")), fields.get("email", "")
        try:
            login = await self.sessions.login(
                email,
                fields.get("password", ""),
                address=client_address(request, self.config.trust_proxy_headers),
            )
        except TusError as exc:
            return _page_error(request, "account/login.html", self._login_context(target, email), exc)
        await self._end_current(request)
        return self._signed_in(login, target)

    def _login_context(self, target: str, email: str) -> dict[str, Any]:
        return {"next": target, "email": email, "registration_open": self.config.registration_open}

    async def logout(self, request: Request) -> Response:
        await self._end_current(request)
        response = RedirectResponse("/login", status_code=303)
        response.raw_headers.append(self.cookies.header(SESSION_COOKIE, "", max_age=0))
        return response

    async def _end_current(self, request: Request) -> None:
        assert self.sessions is not None and self.authenticator is not None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await self.sessions.logout(cookie)
            self.authenticator.session_ended(cookie)

    def _signed_in(self, login: Login, target: str) -> Response:
        response = RedirectResponse(target, status_code=303)
        response.headers["cache-control"] = "no-store"
        response.raw_headers.append(
            self.cookies.header(SESSION_COOKIE, login.cookie, max_age=self.cookies.session_max_age)
        )
        return response

    async def register(self, request: Request) -> Response:
        assert self.sessions is not None
        if not self.config.registration_open:
            raise RegistrationClosed()
        if request.method == "GET":
            return render(request, "account/register.html", {"email": ""})
        fields = await read_form(request)
        email = fields.get("email", "")
        try:
            if fields.get("password", "") != fields.get("password_again", ""):
                raise PasswordsDiffer()
            login = await self.sessions.register(
                email,
                fields.get("password", ""),
                address=client_address(request, self.config.trust_proxy_headers),
            )
        except TusError as exc:
            return _page_error(request, "account/register.html", {"email": email}, exc)
        await self._end_current(request)
        return self._signed_in(login, "/")

    # --- the account page ------------------------------------------------------------------

    async def account(self, request: Request) -> Response:
        return render(request, "account/account.html", {"message": None})

    async def change_password(self, request: Request) -> Response:
        assert self.sessions is not None and self.authenticator is not None
        who = _signed_in_user(request)
        fields = await read_form(request)
        try:
            if fields.get("new_password", "") != fields.get("new_password_again", ""):
                raise PasswordsDiffer()
            ended = await self.sessions.change_password(
                who,
                fields.get("current_password", ""),
                fields.get("new_password", ""),
                keep_cookie=request.cookies.get(SESSION_COOKIE),
            )
        except TusError as exc:
            return _page_error(request, "account/account.html", {"message": None}, exc)
        self.authenticator.sessions_of_user_ended(who.user_id)
        message = f"Password changed. Other sessions signed out: {ended}."
        return render(request, "account/account.html", {"message": message})

    # --- API tokens ------------------------------------------------------------------------

    async def tokens(self, request: Request) -> Response:
        assert self.accounts is not None
        who = _signed_in_user(request)
        context: dict[str, Any] = {"new_token": None, "name": ""}
        if request.method == "POST":
            fields = await read_form(request)
            context["name"] = fields.get("name", "")
            try:
                record, token = await self.accounts.create_token_for(
                    who.user_id, name=context["name"], expires_in_days=_days(fields.get("expires_days", ""))
                )
            except TusError as exc:
                context.update(await self._token_rows(who))
                return _page_error(request, "account/tokens.html", context, exc)
            context["new_token"] = {"name": record.name, "token": token}
            context["name"] = ""
        context.update(await self._token_rows(who))
        return render(request, "account/tokens.html", context)

    async def _token_rows(self, who: Principal) -> dict[str, Any]:
        assert self.accounts is not None
        now = datetime.now().astimezone()
        rows = [(t, token_state(t, now)) for t in await self.accounts.tokens_for(who.user_id)]
        return {"tokens": rows}

    async def revoke_token(self, request: Request) -> Response:
        assert self.accounts is not None
        who = _signed_in_user(request)
        token_id: str = request.path_params["token_id"]
        try:
            await self.accounts.revoke_token(token_id[:200], user_id=who.user_id)
        except TusError as exc:
            context: dict[str, Any] = {"new_token": None, "name": "", **await self._token_rows(who)}
            return _page_error(request, "account/tokens.html", context, exc)
        return RedirectResponse("/tokens", status_code=303)


def _signed_in_user(request: Request) -> Principal:
    who = principal(request)
    assert who is not None, "the middleware lets no anonymous request through with auth required"
    return who


def _days(raw: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        days = float(raw)
    except ValueError:
        raise InvalidRequestBody("expiry must be a number of days, or empty for never") from None
    if days != days or days in (float("inf"), float("-inf")):
        raise InvalidRequestBody("expiry must be a number of days, or empty for never")
    return days
