"""Profiles: `TUSPORTAL_ENV=development` (the default) or `production`.

development changes nothing. production:

- logs JSON unless `TUSPORTAL_LOG_FORMAT` is set explicitly;
- refuses to start with unsafe settings: `unsafe_setting` names the first one, in one line, and
  `tusportal serve` (or `worker`) exits with status 2. Refused today: credentials that are known
  defaults (`default_secret`: MinIO's and RabbitMQ's defaults, the values `.env.example` and
  docker-compose.yml ship) in the settings in use; and, for `serve`, anonymous mode
  (`TUSPORTAL_AUTH=none`) on a non-local bind and session cookies without the Secure attribute
  (`TUSPORTAL_AUTH=required` with `TUSPORTAL_COOKIE_SECURE=false`). CORS `*` is allowed: browsers
  upload from anywhere by design, and on a non-local bind auth is required anyway.

Pure decisions on Settings; `cli.main` acts on them.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from tusportal.settings import Settings

LOCAL_HOSTS = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

# passwords and secret keys anyone can look up: where each comes from
KNOWN_DEFAULT_SECRETS = {
    "minioadmin": "MinIO's default",
    "guest": "RabbitMQ's default",
    "tusportal": "docker-compose.yml's default",
    "change-me-postgres": ".env.example's example",
    "change-me-minio": ".env.example's example",
    "change-me-rabbitmq": ".env.example's example",
    "secret": ".env.example's example",
}
KNOWN_DEFAULT_ACCESS_KEYS = {"minioadmin": "MinIO's default"}


def is_local(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def with_default_auth(settings: Settings) -> Settings:
    """Anonymous mode is the default only on a local bind: when `TUSPORTAL_AUTH` is not set and the
    server binds a non-local address, accounts are required."""
    if "auth" in settings.model_fields_set or is_local(settings.host):
        return settings
    return settings.model_copy(update={"auth": "required"})


def log_format(settings: Settings) -> str:
    """The log format in effect: the explicit setting, else JSON in production."""
    if settings.env == "production" and "log_format" not in settings.model_fields_set:
        return "json"
    return settings.log_format


def url_password(url: str) -> str | None:
    """The password in a URL (`scheme://user:password@host/...`) or a libpq `password=...` string."""
    if "://" in url:
        try:
            password = urlsplit(url).password
        except ValueError:
            return None
        return unquote(password) if password is not None else None
    match = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url)
    return match[1].strip("'") if match else None


def default_secret(settings: Settings) -> str | None:
    """The first setting in use whose credential is a known default, as one line naming it (not
    the value: a known default is public, but the line may end up next to real ones)."""
    found: list[tuple[str, str | None, dict[str, str]]] = []
    if settings.database_url:
        found.append(("TUSPORTAL_DATABASE_URL", url_password(settings.database_url), KNOWN_DEFAULT_SECRETS))
    if settings.storage == "s3":
        found.append(("TUSPORTAL_S3_ACCESS_KEY", settings.s3_access_key, KNOWN_DEFAULT_ACCESS_KEYS))
        found.append(("TUSPORTAL_S3_SECRET_KEY", settings.s3_secret_key, KNOWN_DEFAULT_SECRETS))
    if settings.events_broker != "postgres" and settings.events_broker_url:
        broker_password = url_password(settings.events_broker_url)
        found.append(("TUSPORTAL_EVENTS_BROKER_URL", broker_password, KNOWN_DEFAULT_SECRETS))
    for name, value, defaults in found:
        if value is not None and value in defaults:
            what = "the password in " if name.endswith("_URL") else ""
            return (
                f"TUSPORTAL_ENV=production refuses {what}{name}: it is a known default"
                f" ({defaults[value]}); set a credential of your own"
            )
    return None


def unsafe_setting(settings: Settings, command: str = "serve") -> str | None:
    """In production, the first unsafe setting for `tusportal <command>` (serve or worker), as one
    line naming it."""
    if settings.env != "production":
        return None
    refused = default_secret(settings)
    if refused is not None:
        return refused
    if command == "serve" and settings.auth == "none" and not is_local(settings.host):
        return (
            f"TUSPORTAL_ENV=production refuses TUSPORTAL_AUTH=none (anonymous uploads) on the non-local"
            f" bind TUSPORTAL_HOST={settings.host}: set TUSPORTAL_AUTH=required, or bind 127.0.0.1"
        )
    if command == "serve" and settings.auth == "required" and not settings.cookie_secure:
        return (
            "TUSPORTAL_ENV=production refuses insecure cookies (TUSPORTAL_COOKIE_SECURE=false) with"
            " TUSPORTAL_AUTH=required: browsers would send the session cookie over plain HTTP; serve"
            " HTTPS (a TLS proxy in front is fine) and set TUSPORTAL_COOKIE_SECURE=true"
        )
    return None
