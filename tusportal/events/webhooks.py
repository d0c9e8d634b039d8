"""Standard Webhooks signing, and one delivery attempt over HTTP. No Dramatiq here.

Signing (https://www.standardwebhooks.com): the secret is `whsec_` + base64 of random bytes; the
signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`; `webhook-signature` is
`v1,<base64 HMAC-SHA256>` (several, space-separated, while a secret is being rotated).

`attempt()` makes one POST and classifies the answer; it never raises for the receiver's faults. It
retries nothing itself: whole deliveries are retried by the Dramatiq Retries middleware.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
USER_AGENT = "tusportal-webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw, validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class InvalidSignature(Exception):
    pass


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> str:
    """What a receiver does: check the signature and the timestamp; returns the webhook-id."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lower["webhook-id"]
        timestamp = int(lower["webhook-timestamp"])
        signatures = lower["webhook-signature"].split()
    except (KeyError, ValueError):
        raise InvalidSignature("missing or malformed webhook headers") from None
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature("timestamp outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature("no matching signature")
    return msg_id


def headers_for(secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/cloudevents+json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


@dataclass(frozen=True)
class Result:
    """One attempt. outcome: 'delivered' (2xx), 'retry' (no answer, 408, 429, 5xx, 3xx) or 'final'
    (any other 4xx: the receiver will not take it however often we try)."""

    outcome: str
    started_at: datetime
    latency_ms: float
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a Retry-After header on 429/503


def classify(status: int) -> str:
    if 200 <= status < 300:
        return "delivered"
    if 400 <= status < 500 and status not in (408, 429):
        return "final"
    return "retry"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


async def attempt(
    client: httpx.AsyncClient, url: str, secret: str, msg_id: str, body: bytes, *, seconds: float
) -> Result:
    import httpx  # imported by the first attempt, not at start (with its deps, ~10 MiB)

    started = datetime.now(UTC)
    clock = time.perf_counter()
    try:
        response = await client.post(
            url, content=body, headers=headers_for(secret, msg_id, body), timeout=seconds
        )
        await response.aclose()
    except httpx.TimeoutException:
        return Result("retry", started, _ms(clock), error=f"timed out after {seconds:g} s")
    except httpx.HTTPError as exc:
        return Result("retry", started, _ms(clock), error=f"{type(exc).__name__}: {exc}"[:500])
    outcome = classify(response.status_code)
    error = None if outcome == "delivered" else f"HTTP {response.status_code}"
    return Result(
        outcome,
        started,
        _ms(clock),
        status=response.status_code,
        error=error,
        retry_after=_retry_after(response) if response.status_code in (429, 503) else None,
    )


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def new_client(*, max_connections: int = 32) -> httpx.AsyncClient:
    """Redirects are not followed (a 3xx is a failed attempt, as Standard Webhooks senders do)."""
    import httpx

    return httpx.AsyncClient(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
    )
