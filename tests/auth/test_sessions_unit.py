"""The pure parts of browser sessions: CSRF tokens, the login throttle's arithmetic, client address
keys, local-only redirects, form parsing and the cookie header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal import auth
from tusportal.errors import InvalidRequestBody
from tusportal.web.auth import CookiePolicy
from tusportal.web.forms import is_form, parse_form
from tusportal.web.redirects import local_path, login_url


def test_sessions_are_random_and_stored_only_as_their_hash() -> None:
    a, b = auth.new_session(), auth.new_session()
    assert a.cookie != b.cookie and a.cookie.startswith("tps_")
    assert a.token_hash == auth.session_hash(a.cookie) and a.cookie not in a.token_hash
    assert auth.looks_like_session(a.cookie)
    for bad in ("", "tps_", "tp_abc", "tps_a b", "tps_" + "a" * 300, "tps_abc;x=y"):
        assert not auth.looks_like_session(bad), bad


def test_csrf_token_is_per_session_and_not_the_cookie() -> None:
    a, b = auth.new_session(), auth.new_session()
    token = auth.csrf_token_for(a.cookie)
    assert token == auth.csrf_token_for(a.cookie)
    assert token != auth.csrf_token_for(b.cookie)
    assert a.cookie not in token and token != a.token_hash
    assert auth.csrf_matches(token, token)
    for presented in (None, "", token[:-1], token + "x", auth.csrf_token_for(b.cookie), "ü" * 10):
        assert not auth.csrf_matches(token, presented)
    assert not auth.csrf_matches("", "")


@given(st.text(max_size=60))
def test_csrf_matches_only_the_exact_token(presented: str) -> None:
    expected = auth.csrf_token_for("secret-cookie-value")
    assert auth.csrf_matches(expected, presented) == (presented == expected)


@pytest.mark.parametrize(
    ("failures", "age", "expected"),
    [(0, 0, None), (4, 10, None), (5, 10, 890), (9, 899.2, 1), (5, 900, None), (50, 1000, None)],
)
def test_retry_after(failures: int, age: float, expected: int | None) -> None:
    assert auth.retry_after(failures, age, limit=5, window_seconds=900) == expected


@given(st.integers(0, 100), st.floats(0, 2000), st.integers(1, 20))
def test_retry_after_never_exceeds_the_window(failures: int, age: float, limit: int) -> None:
    wait = auth.retry_after(failures, age, limit=limit, window_seconds=900)
    assert wait is None or 1 <= wait <= 900
    assert (wait is not None) == (failures >= limit and age < 900)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("[2001:db8::1]", "2001:db8::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not an address", "not an address"),
        ("", "unknown"),
    ],
)
def test_address_keys(address: str, key: str) -> None:
    assert auth.address_key(address) == key


@pytest.mark.parametrize(
    "target", ["/", "/files", "/batches?state=open", "/a/b#frag", "/upload?next=//evil.example"]
)
def test_local_paths_are_kept(target: str) -> None:
    assert local_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "/x\\y",
        "javascript:alert(1)",
        "evil.example",
        "/x\r\nSet-Cookie: a=b",
        "/" + "a" * 3000,
    ],
)
def test_other_targets_become_the_dashboard(target: str | None) -> None:
    assert local_path(target) == "/"


def test_login_url_quotes_the_next_path() -> None:
    assert login_url("/batches?state=open&x=1") == "/login?next=/batches%3Fstate%3Dopen%26x%3D1"
    assert login_url("//evil.example") == "/login?next=/"


def test_urlencoded_and_multipart_forms() -> None:
    assert parse_form("application/x-www-form-urlencoded", b"a=1&b=&a=2&c=%C3%BC+x") == {
        "a": "1",
        "b": "",
        "c": "ü x",
    }
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\ntok123\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n"
    )
    assert parse_form("multipart/form-data; boundary=XyZ", body) == {"csrf_token": "tok123"}
    assert parse_form("application/json", b'{"csrf_token": "x"}') == {}
    assert is_form("Application/X-WWW-Form-Urlencoded; charset=utf-8") and is_form("text/plain")
    assert not is_form("application/offset+octet-stream") and not is_form(None)


def test_unreadable_forms_are_a_400() -> None:
    with pytest.raises(InvalidRequestBody):
        parse_form("application/x-www-form-urlencoded", b"a=\xff\xfe")
    with pytest.raises(InvalidRequestBody):
        parse_form("multipart/form-data", b"no boundary")


def test_cookie_header_attributes() -> None:
    name, value = CookiePolicy(secure=False).header("tusportal_session", "v", max_age=60)
    assert name == b"set-cookie"
    assert value == b"tusportal_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
    _, secure = CookiePolicy(secure=True).header("tusportal_csrf", "v")
    assert secure == b"tusportal_csrf=v; Path=/; HttpOnly; SameSite=Lax; Secure"
