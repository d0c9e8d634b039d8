"""Profiles: `TUSPORTAL_ENV=development` (the default) or `production`.

development changes nothing. production:

- logs JSON unless `TUSPORTAL_LOG_FORMAT` is set explicitly;
- refuses to serve with unsafe settings: `unsafe_setting` names the first one, in one line, and
  `tusportal serve` exits with status 2. Refused today: anonymous mode (`TUSPORTAL_AUTH=none`) on a
  non-local bind, and session cookies without the Secure attribute (`TUSPORTAL_AUTH=required` with
  `TUSPORTAL_COOKIE_SECURE=false`). CORS `*` is allowed: browsers upload from anywhere by design,
  and on a non-local bind auth is required anyway.

Pure decisions on Settings; `cli.main` acts on them.
"""

from __future__ import annotations

import ipaddress

from tusportal.settings import Settings

LOCAL_HOSTS = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_local(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def log_format(settings: Settings) -> str:
    """The log format in effect: the explicit setting, else JSON in production."""
    if settings.env == "production" and "log_format" not in settings.model_fields_set:
        return "json"
    return settings.log_format


def unsafe_setting(settings: Settings) -> str | None:
    """In production, the first unsafe setting for `tusportal serve`, as one line naming it."""
    if settings.env != "production":
        return None
    if settings.auth == "none" and not is_local(settings.host):
        return (
            f"TUSPORTAL_ENV=production refuses TUSPORTAL_AUTH=none (anonymous uploads) on the non-local"
            f" bind TUSPORTAL_HOST={settings.host}: set TUSPORTAL_AUTH=required, or bind 127.0.0.1"
        )
    if settings.auth == "required" and not settings.cookie_secure:
        return (
            "TUSPORTAL_ENV=production refuses insecure cookies (TUSPORTAL_COOKIE_SECURE=false) with"
            " TUSPORTAL_AUTH=required: browsers would send the session cookie over plain HTTP; serve"
            " HTTPS (a TLS proxy in front is fine) and set TUSPORTAL_COOKIE_SECURE=true"
        )
    return None
