"""In-memory twin of the local store, for fast unit tests. Same contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from tusportal.storage.base import Hasher, StoreState


class MemoryWriter:
    def __init__(self, blob: bytearray, offset: int, hashers: list[Hasher], on_fsync: Callable[[], None]):
        self._on_fsync = on_fsync
        self._blob = blob
        self._pos = offset
        self._start = offset
        self._hashers = hashers

    @property
    def state(self) -> StoreState | None:
        return None

    @property
    def written(self) -> int:
        return self._pos - self._start

    async def write(self, data: bytes) -> None:
        for hasher in self._hashers:
            hasher.update(data)
        self._blob[self._pos : self._pos + len(data)] = data
        self._pos += len(data)

    async def flush(self, *, fsync: bool = False) -> int:
        if fsync:
            self._on_fsync()
        return self.written

    async def close(self) -> None:
        return None


class MemoryStore:
    """Implements Store, Terminator and RangeReader."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytearray] = {}
        self.durable: set[str] = set()

    async def create(self, key: str) -> StoreState | None:
        self.blobs.setdefault(key, bytearray())
        return None

    async def size(self, key: str, state: StoreState | None = None) -> int:
        return len(self.blobs.get(key, b""))

    async def truncate(self, key: str, size: int, state: StoreState | None = None) -> StoreState | None:
        if key in self.blobs:
            del self.blobs[key][size:]
        return None

    def writer(
        self, key: str, offset: int, hashers: list[Hasher] | None = None, state: StoreState | None = None
    ) -> MemoryWriter:
        blob = self.blobs.setdefault(key, bytearray())
        return MemoryWriter(blob, offset, hashers or [], lambda: self.synced(key))

    def synced(self, key: str) -> None:
        """A writer's bytes were fsync'd (tests override this to observe it)."""
        self.durable.add(key)

    async def make_durable(
        self, key: str, state: StoreState | None = None, *, new: bool = False
    ) -> StoreState | None:
        self.durable.add(key)
        return None

    async def concatenate(
        self, key: str, parts: list[tuple[str, StoreState | None]], pause: float = 0.0
    ) -> StoreState | None:
        self.blobs[key] = bytearray(b"".join(bytes(self.blobs.get(part, b"")) for part, _ in parts))
        self.durable.add(key)
        return None

    async def delete(self, key: str, state: StoreState | None = None) -> None:
        self.blobs.pop(key, None)

    async def read(
        self, key: str, start: int, end: int, state: StoreState | None = None
    ) -> AsyncIterator[bytes]:
        blob = self.blobs.get(key, bytearray())
        for pos in range(start, end + 1, 65536):
            yield bytes(blob[pos : min(pos + 65536, end + 1)])
