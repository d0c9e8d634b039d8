"""`tusportal webhook ...` and `tusportal events ...`: the CLI face of EventManagement.

cli.py adds these parsers and hands the parsed arguments here with a ready EventManagement.
Output is JSON (one document), so scripts can read it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tusportal.events.management import EventManagement
from tusportal.events.schema import EVENT_TYPES, write_schemas
from tusportal.progress import QUIET_HELP, Report, silent


def add_parsers(sub: Any) -> None:
    hook = sub.add_parser("webhook", help="manage webhook subscriptions and deliveries")
    hook.add_argument("--data-dir", type=Path)
    ops = hook.add_subparsers(dest="webhook_command", required=True)
    add = ops.add_parser("add", help="subscribe a URL; prints the new webhook with its secret")
    add.add_argument("url")
    add.add_argument(
        "--event",
        dest="events",
        action="append",
        required=True,
        help=f"event type ({', '.join(EVENT_TYPES)}) or '*'; repeat for several",
    )
    add.add_argument("--description", default="")
    ops.add_parser("list", help="list webhooks")
    update = ops.add_parser("update", help="change a webhook")
    update.add_argument("id")
    update.add_argument("--url")
    update.add_argument("--event", dest="events", action="append")
    update.add_argument("--description")
    state = update.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)
    update.add_argument("--rotate-secret", action="store_true")
    delete = ops.add_parser("delete", help="delete a webhook and its deliveries")
    delete.add_argument("id")
    deliveries = ops.add_parser("deliveries", help="list deliveries (of one webhook)")
    deliveries.add_argument("id", nargs="?")
    deliveries.add_argument("--state", choices=("pending", "delivered", "dead"))
    deliveries.add_argument("--limit", type=int, default=100)
    show = ops.add_parser("delivery", help="one delivery with every attempt")
    show.add_argument("delivery_id", type=int)
    replay = ops.add_parser("replay", help="deliver again: one delivery, or a webhook's dead ones")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("--delivery", type=int)
    target.add_argument("--webhook")
    replay.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)

    events = sub.add_parser("events", help="read the event feed; write the event JSON Schemas")
    events.add_argument("--data-dir", type=Path)
    eops = events.add_subparsers(dest="events_command", required=True)
    feed = eops.add_parser("feed", help="events after a cursor (0: from the start)")
    feed.add_argument("--after", default="0")
    feed.add_argument("--wait", type=float, default=0.0)
    feed.add_argument("--type", dest="types", action="append")
    feed.add_argument("--batch")
    feed.add_argument("--limit", type=int, default=100)
    schemas = eops.add_parser("schemas", help="write the JSON Schema of every event type")
    schemas.add_argument("directory", type=Path, nargs="?", default=Path("schemas/events"))


def needs_database(args: argparse.Namespace) -> bool:
    return not (args.command == "events" and args.events_command == "schemas")


def write_event_schemas(args: argparse.Namespace) -> int:
    for path in write_schemas(args.directory):
        print(path)
    return 0


async def run(args: argparse.Namespace, events: EventManagement, progress: Report = silent) -> int:
    result: Any
    if args.command == "events":
        result = await events.feed(
            after=args.after, wait=args.wait, limit=args.limit, types=args.types, batch_id=args.batch
        )
    else:
        result = await _webhook(args, events, progress)
    print(json.dumps(result, indent=2))
    return 0


async def _webhook(args: argparse.Namespace, events: EventManagement, progress: Report) -> Any:
    op = args.webhook_command
    if op == "add":
        return await events.create_webhook(
            url=args.url, event_types=args.events, description=args.description
        )
    if op == "list":
        return await events.list_webhooks()
    if op == "update":
        return await events.update_webhook(
            args.id,
            url=args.url,
            event_types=args.events,
            description=args.description,
            enabled=args.enabled,
            rotate_secret=args.rotate_secret,
        )
    if op == "delete":
        await events.delete_webhook(args.id)
        return {"deleted": args.id}
    if op == "deliveries":
        return await events.deliveries(webhook_id=args.id, state=args.state, limit=args.limit)
    if op == "delivery":
        return await events.delivery(args.delivery_id)
    if op == "replay":
        replayed = await events.replay(delivery_id=args.delivery, webhook_id=args.webhook, progress=progress)
        return {"replayed": replayed}
    raise AssertionError(op)
