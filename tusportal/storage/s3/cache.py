"""A bounded, per-instance cache of pending pieces' bytes.

Pieces are immutable and named uniquely, so a cached copy can never be stale: the cache only saves
fetching back, when their bytes join a part, pieces this instance stored itself (the next PATCH of
an upload usually lands on the instance that took the previous one). The bucket stays the truth;
a miss fetches from it as before."""

from __future__ import annotations

from collections import OrderedDict


class PieceCache:
    def __init__(self, capacity: int):
        self.capacity = capacity  # bytes; 0 disables the cache
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def put(self, name: str, data: bytes) -> None:
        if len(data) > self.capacity or name in self._items:
            return
        self._items[name] = data
        self._size += len(data)
        while self._size > self.capacity:
            _, old = self._items.popitem(last=False)
            self._size -= len(old)

    def get(self, name: str, size: int) -> bytes | None:
        """The first `size` bytes of the piece (a truncate may have cut it short), if cached."""
        data = self._items.get(name)
        if data is None or len(data) < size:
            return None
        return data if len(data) == size else data[:size]

    def discard(self, names: list[str]) -> None:
        for name in names:
            data = self._items.pop(name, None)
            if data is not None:
                self._size -= len(data)
