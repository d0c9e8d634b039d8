"""Request ids and request metrics (the raw ASGI middleware), without a server."""

from __future__ import annotations

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tusportal import metrics
from tusportal.web.observability import RequestContext, metrics_endpoint


def make_app() -> RequestContext:
    log = structlog.get_logger()

    async def hello(request: Request) -> PlainTextResponse:
        log.info("hello_handled")
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/hello", hello), Route("/metrics", metrics_endpoint())])
    return RequestContext(app)


async def test_request_id_is_taken_or_made_and_bound_to_logs() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            r = await client.get("/hello", headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123"
        assert logs[-1]["request_id"] == "abc-123"
        r = await client.get("/hello", headers={"X-Request-ID": "bad id\twith spaces"})
        made = r.headers["x-request-id"]
        assert made != "bad id\twith spaces" and len(made) == 16
        again = (await client.get("/hello")).headers["x-request-id"]
        assert again != made and again[:10] == made[:10]  # one process: its prefix, a new count


async def test_requests_are_counted_by_method_and_status() -> None:
    before = metrics.HTTP_REQUESTS.labels("GET", "404")._value.get()
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/nope")
        text = (await client.get("/metrics")).text
    assert metrics.HTTP_REQUESTS.labels("GET", "404")._value.get() == before + 1
    assert "tusportal_http_requests_total" in text and "tusportal_active_patches" in text
