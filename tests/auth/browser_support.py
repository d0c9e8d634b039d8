"""A browser for tests: keeps cookies itself (so Secure cookies and their attributes are visible),
reads the CSRF token from the page's <meta>, signs in through the form."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import psycopg

from tusportal import auth

META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def add_user(database_url: str, email: str, password: str, *, admin: bool = False) -> str:
    """A user straight into the server's database; returns the user id."""
    user_id = "u_" + secrets.token_hex(6)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, is_admin) VALUES (%s, %s, %s, %s)",
            (user_id, email, auth.hash_password(password), admin),
        )
    return user_id


def add_token(database_url: str, user_id: str) -> str:
    token = auth.new_token()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES (%s, %s, 'test', %s)",
            ("tok_" + secrets.token_hex(6), user_id, token.token_hash),
        )
    return token.token


def sql(database_url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def fresh_email(name: str = "user") -> str:
    return f"{name}-{secrets.token_hex(4)}@example.com"


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie line."""
    found = {}
    for line in response.headers.get_list("set-cookie"):
        found[line.split("=", 1)[0].strip()] = line
    return found


def attributes(set_cookie_line: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in set_cookie_line.split(";")[1:]}


class Browser:
    def __init__(self, base: str, headers: dict[str, str] | None = None):
        self.client = httpx.Client(base_url=base, timeout=30, follow_redirects=False, headers=headers)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.client.cookies.clear()  # the jar is ours
        for name, line in set_cookies(response).items():
            value = line.split(";", 1)[0].split("=", 1)[1]
            if "max-age=0" in line.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def csrf(self, page: str = "/login") -> str:
        response = self.get(page)
        assert response.status_code == 200, (page, response.status_code, response.text[:300])
        match = META.search(response.text)
        assert match and match[1], response.text[:500]
        return match[1]

    def login(self, email: str, password: str, next_path: str | None = None) -> httpx.Response:
        token = self.csrf("/login")
        form = {"csrf_token": token, "email": email, "password": password}
        if next_path is not None:
            form["next"] = next_path
        return self.post("/login", data=form)

    @property
    def session(self) -> str | None:
        return self.cookies.get("tusportal_session")

    def close(self) -> None:
        self.client.close()
