"""Prometheus metrics. Every name starts with `tusportal_`; the README lists names and labels.

Hot paths count per request, never per body chunk.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "tusportal_http_requests_total", "HTTP requests answered", ["method", "status"], registry=REGISTRY
)
HTTP_DURATION = Histogram(
    "tusportal_http_request_duration_seconds",
    "Time to answer an HTTP request, by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
BYTES_RECEIVED = Counter(
    "tusportal_bytes_received_total", "Upload bytes written to storage and committed", registry=REGISTRY
)
UPLOADS = Counter(
    "tusportal_uploads_total",
    "Upload lifecycle transitions: created, finished, terminated, expired",
    ["event"],
    registry=REGISTRY,
)
ACTIVE_PATCHES = Gauge(
    "tusportal_active_patches", "PATCH requests streaming a body right now", registry=REGISTRY
)
LOCK_WAITS = Counter(
    "tusportal_lock_waits_total",
    "Requests that found their upload locked, by outcome: acquired or timeout",
    ["outcome"],
    registry=REGISTRY,
)
LOCK_WAIT_SECONDS = Histogram(
    "tusportal_lock_wait_seconds",
    "Time spent waiting for a locked upload",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
    registry=REGISTRY,
)
LOCK_RELEASES = Counter(
    "tusportal_lock_release_requests_total",
    "Release requests this process answered by stopping a PATCH it held",
    registry=REGISTRY,
)
S3_REQUEST_SECONDS = Histogram(
    "tusportal_s3_request_duration_seconds",
    "Duration of S3 requests, by operation",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "tusportal_outbox_backlog", "Events recorded but not yet delivered everywhere", registry=REGISTRY
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "tusportal_outbox_oldest_pending_seconds", "Age of the oldest undelivered event", registry=REGISTRY
)
DELIVERY_ATTEMPTS = Counter(
    "tusportal_delivery_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, retry, final, dead)",
    ["outcome"],
    registry=REGISTRY,
)
