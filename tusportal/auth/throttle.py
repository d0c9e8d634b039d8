"""The login throttle's decisions: when a run of failed logins blocks further attempts, and which
key a client address counts under.

Failures are counted per account (the lower-cased email, whether or not such a user exists, so the
throttle tells nothing about which emails are registered) and per client address, in fixed windows:
the first failure opens a window of `window_seconds`; once `limit` failures are in it, attempts are
refused until the window ends. The counts live in PostgreSQL, so every instance shares them.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginLimits:
    per_account: int = 5
    per_address: int = 50
    window_seconds: float = 900.0


def retry_after(failures: int, window_age_seconds: float, *, limit: int, window_seconds: float) -> int | None:
    """Seconds until attempts are allowed again, or None when they are allowed now."""
    if window_age_seconds >= window_seconds or failures < limit:
        return None
    return max(1, math.ceil(window_seconds - window_age_seconds))


def address_key(address: str) -> str:
    """The key a client address counts under: an IPv4 address itself; an IPv6 address by its /64
    (one subscriber usually holds a whole /64); anything unparseable as given, shortened."""
    text = address.strip().strip("[]")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:100] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
