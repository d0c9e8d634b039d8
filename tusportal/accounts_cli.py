"""`tusportal user create EMAIL [--admin]` and `tusportal token create --user EMAIL --name NAME`.

They run against the same database as `tusportal serve` (TUSPORTAL_DATABASE_URL, or the embedded
PostgreSQL in the data dir), so they work while the server runs. The password is read from standard
input (first line) so it never appears in a process list or shell history; the new token is printed
alone on the last line of output, for `tail -n1`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from tusportal.errors import TusError
from tusportal.service.accounts import AccountService

COMMANDS = ("user", "token")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="manage accounts (TUSPORTAL_AUTH=required)")
    user_sub = user.add_subparsers(dest="action", required=True)
    create = user_sub.add_parser("create", help="create a user; the password is read from standard input")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true", help="the user sees and manages everything")
    create.add_argument("--data-dir", type=Path)

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    new = token_sub.add_parser("create", help="create an API token; printed once, on the last line")
    new.add_argument("--user", required=True, help="the email of the token's owner")
    new.add_argument("--name", required=True, help="what the token is for")
    new.add_argument("--expires-days", type=float, help="the token stops working after N days")
    new.add_argument("--data-dir", type=Path)
    listing = token_sub.add_parser("list", help="a user's tokens (never the tokens themselves)")
    listing.add_argument("--user", required=True, help="the email of the tokens' owner")
    listing.add_argument("--data-dir", type=Path)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id (see `token list`)")
    revoke.add_argument("token_id")
    revoke.add_argument("--data-dir", type=Path)


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def run(args: argparse.Namespace, accounts: AccountService, password: str | None = None) -> int:
    try:
        if args.command == "user":
            assert password is not None
            user = await accounts.create_user(args.email, password, is_admin=args.admin)
            role = "admin" if user.is_admin else "user"
            print(f"created {role} {user.email} ({user.id})")
            return 0
        if args.action == "list":
            for t in await accounts.tokens_of(args.user):
                state = "revoked" if t.revoked_at else "live"
                expires = t.expires_at.isoformat() if t.expires_at else "never"
                used = t.last_used_at.isoformat() if t.last_used_at else "never"
                print(f"{t.id}\t{t.name}\t{state}\texpires {expires}\tlast used {used}")
            return 0
        if args.action == "revoke":
            await accounts.revoke_token(args.token_id)
            print(f"revoked {args.token_id}")
            return 0
        record, token = await accounts.create_token(
            args.user, name=args.name, expires_in_days=args.expires_days
        )
        expiry = record.expires_at.isoformat() if record.expires_at else "never"
        print(f"created token {record.id} {record.name!r} for {args.user}, expires {expiry}")
        print("it is shown only now; send it as `Authorization: Bearer <token>`:")
        print(token)
        return 0
    except TusError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
