"""Who may see what: the owner of a resource, or an admin. Without auth there is no principal and
everything is open (the anonymous laptop mode)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: str
    email: str
    is_admin: bool = False


def can_access(principal: Principal | None, owner_id: str | None) -> bool:
    """May `principal` see a resource owned by `owner_id`? None principal: auth is off."""
    if principal is None or principal.is_admin:
        return True
    return owner_id is not None and owner_id == principal.user_id


def owner_filter(principal: Principal | None) -> str | None:
    """The owner id a listing is restricted to; None means every owner (auth off, or an admin)."""
    if principal is None or principal.is_admin:
        return None
    return principal.user_id


def owner_for_new(principal: Principal | None) -> str | None:
    """The owner recorded on a resource the principal creates."""
    return principal.user_id if principal is not None else None
