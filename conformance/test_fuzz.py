"""Malformed tus headers from hypothesis: never a 5xx, and the server stays up."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tus_liveness import server_answers
from tus_support import OFFSET_STREAM, TUS_VERSION, TusClient

pytestmark = pytest.mark.fuzz

FUZZED_HEADERS = [
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Concat",
    "Tus-Resumable",
    "Upload-Defer-Length",
    "Content-Type",
    "X-HTTP-Method-Override",
]
METHODS = ["POST", "HEAD", "PATCH", "DELETE", "OPTIONS"]

# Values close to valid ones find more parser bugs than pure noise.
NEAR_MISSES = [
    "",
    "0",
    "-0",
    "-1",
    "1",
    "+1",
    "1.0",
    "1e9",
    "0x10",
    "99999999999999999999999999999",
    "18446744073709551616",
    "9223372036854775808",
    " 5",
    "5 ",
    "NaN",
    "Infinity",
    "null",
    "1.0.0",
    "1.0.0,1.0.0",
    "partial",
    "final;",
    "final; ",
    "final;/files/x /files/y",
    "final;http://other.invalid/files/x",
    "sha1",
    "sha1 ",
    "sha1 =",
    "md5 AAAA",
    "a b c",
    "a,b,c",
    "key",
    "key ,",
    ",",
    " , ",
    "key dmFsdWU=,key dmFsdWU=",
    "application/offset+octet-stream; charset=utf-8",
    "application/offset+octet-stream,text/plain",
    "PATCH",
    "DELETE",
    "GET",
    "CONNECT",
    "TRACE",
    "patch",
]

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
# Bytes httpx may or may not accept in a header value; those it rejects are skipped.
raw_bytes = st.binary(min_size=0, max_size=60)
header_value = st.one_of(st.sampled_from(NEAR_MISSES), printable, raw_bytes)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str | bytes], bytes]:
    method = draw(st.sampled_from(METHODS))
    target = draw(st.sampled_from(["endpoint", "upload", "unknown"]))
    names = draw(st.lists(st.sampled_from(FUZZED_HEADERS), min_size=1, max_size=4, unique=True))
    headers: dict[str, str | bytes] = {"Tus-Resumable": TUS_VERSION}
    if method == "PATCH":
        headers.update({"Content-Type": OFFSET_STREAM, "Upload-Offset": "0"})
    if method == "POST":
        headers["Upload-Length"] = "16"
    for name in names:
        headers[name] = draw(header_value)
    body = draw(st.binary(max_size=64)) if method in ("POST", "PATCH") else b""
    return method, target, headers, body


@pytest.mark.timeout(600)
def test_fuzzed_tus_headers_never_get_5xx(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """Malformed tus header values on every method never get a 5xx and never take the server down."""
    upload_url = new_upload(16)
    unknown_url = tus.unknown_url()

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests())
    def check(request: tuple[str, str, dict[str, str | bytes], bytes]) -> None:
        method, target, headers, body = request
        url = {"endpoint": tus.endpoint, "upload": upload_url, "unknown": unknown_url}[target]
        try:
            raw_headers = [
                (name.encode(), value if isinstance(value, bytes) else value.encode("ascii"))
                for name, value in headers.items()
            ]
            built = tus.http.build_request(method, url, headers=raw_headers, content=body or None)
        except (UnicodeEncodeError, httpx.HTTPError, ValueError):
            return  # httpx will not send this header value at all
        try:
            response = tus.http.send(built)
        except httpx.LocalProtocolError:
            return  # h11 refused to put this header value on the wire
        except httpx.TransportError as error:
            # Dropping a request it cannot parse is the server's right; going down is not.
            if not server_answers(tus.endpoint):
                pytest.fail(f"{method} {target} {headers!r}: server went down ({error!r})")
            return
        assert response.status_code < 500, (
            f"{method} {target} with {headers!r} answered {response.status_code}: {response.text[:200]}"
        )

    check()
