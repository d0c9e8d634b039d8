"""sha256 of whole files, computed while they stream in.

A PATCH feeds its bytes to a running sha256 on the writer's thread. Between PATCHes the running hash
stays in this process (hashlib objects cannot be saved), keyed by upload id and the offset it
covers. When the next PATCH of that upload comes to this process at that offset — the common case —
it continues the hash; otherwise (a restart, another instance, a rejected chunk) the hash is rebuilt
at completion by reading the file once. Memory: one small hash object per unfinished upload, at
most `capacity` of them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

Sha256 = Any  # hashlib's _Hash


class RunningHashes:
    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[int, Sha256]] = OrderedDict()

    def take(self, upload_id: str, offset: int) -> Sha256 | None:
        """The running hash covering exactly `offset` bytes, or a new one at offset 0."""
        item = self._items.pop(upload_id, None)
        if item is not None and item[0] == offset:
            return item[1]
        return hashlib.sha256() if offset == 0 else None

    def put(self, upload_id: str, offset: int, running: Sha256) -> None:
        self._items[upload_id] = (offset, running)
        self._items.move_to_end(upload_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._items.pop(upload_id, None)

    def __len__(self) -> int:
        return len(self._items)
