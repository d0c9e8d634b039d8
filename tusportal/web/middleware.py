"""Raw ASGI middleware (cheap on the hot path): method override and the Tus-Resumable header."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tusportal.protocol import TUS_VERSION

OVERRIDABLE = {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"}


class MethodOverride:
    """Honour X-HTTP-Method-Override on every method, for clients and proxies that only speak
    GET and POST. An unknown method name is left to the router, which answers 405."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-http-method-override":
                    method = value.decode("latin-1").strip().upper()
                    if method:
                        scope = dict(scope)
                        scope["method"] = method
                    break
        await self.app(scope, receive, send)


class TusResumableHeader:
    """Every response under the tus endpoint carries Tus-Resumable (errors included)."""

    def __init__(self, app: ASGIApp, base_path: str):
        self.app = app
        self.prefix = base_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"tus-resumable" for k, _ in headers):
                    headers.append((b"tus-resumable", TUS_VERSION.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)
