"""Standard Webhooks signing, attempt classification and retry backoff: pure functions."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.events import webhooks
from tusportal.events.dispatch import backoff

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_standard_webhooks_vector() -> None:
    assert webhooks.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_verify_accepts_the_vector_and_rejects_tampering() -> None:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert webhooks.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 10) == VECTOR_ID
    with pytest.raises(webhooks.InvalidSignature):
        webhooks.verify(VECTOR_SECRET, headers, VECTOR_BODY + b" ", now=VECTOR_TS)
    with pytest.raises(webhooks.InvalidSignature):
        webhooks.verify(VECTOR_SECRET, {**headers, "webhook-id": "msg_other"}, VECTOR_BODY, now=VECTOR_TS)
    with pytest.raises(webhooks.InvalidSignature, match="timestamp"):
        webhooks.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 3600)
    # during a secret rotation, several signatures are sent; one matching is enough
    rotated = {**headers, "webhook-signature": "v1,bm90IGl0 " + VECTOR_SIGNATURE}
    assert webhooks.verify(VECTOR_SECRET, rotated, VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


def test_new_secrets_are_whsec_with_32_random_bytes() -> None:
    a, b = webhooks.new_secret(), webhooks.new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32


@given(st.binary(max_size=2000), st.text(min_size=1, max_size=40), st.integers(0, 2**40))
def test_headers_verify_round_trip(body: bytes, msg_id: str, ts: int) -> None:
    secret = webhooks.new_secret()
    msg_id = msg_id.replace(" ", "_")
    headers = webhooks.headers_for(secret, msg_id, body, timestamp=ts)
    assert headers["webhook-id"] == msg_id
    assert webhooks.verify(secret, headers, body, now=ts) == msg_id


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "delivered"), (204, "delivered"), (299, "delivered"), (301, "retry"), (400, "final"),
     (401, "final"), (404, "final"), (410, "final"), (408, "retry"), (429, "retry"), (500, "retry"),
     (503, "retry")],
)  # fmt: skip
def test_only_4xx_other_than_408_and_429_is_final(status: int, outcome: str) -> None:
    assert webhooks.classify(status) == outcome


@given(st.integers(0, 200), st.floats(0.01, 100), st.floats(1, 100_000), st.integers(0, 2**32))
def test_backoff_grows_and_stays_within_bounds(failures: int, low: float, span: float, seed: int) -> None:
    high = low + span
    delay = backoff(failures, low=low, high=high, rng=random.Random(seed))
    assert low <= delay <= high
    exact = low * 2**failures
    if 2 * exact <= high:
        assert exact <= delay <= 2 * exact  # exponential, with up to 2x jitter
    elif exact > high:
        assert max(low, high / 2) <= delay  # capped, still spread out
