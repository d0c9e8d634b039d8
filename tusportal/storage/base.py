"""The Store protocol: a small required interface plus optional capabilities.

Every call names the object by `key` and passes `state`: an opaque, JSON-serializable dict that the
store returned earlier for this object (None at first). The service persists it in PostgreSQL next
to the committed offset, in the same statement, so a store can keep its bookkeeping (an S3 multipart
upload id, the list of parts, where a pending piece lives) where every instance can read it,
without storage importing state. Stores that need none (local disk) return None and ignore it.

Required (every store):
- `create(key)` makes an empty object.
- `size(key)` is the number of bytes the store holds (0 for a missing object). After a crash this
  may differ from the committed offset in PostgreSQL; the service reconciles the two.
- `truncate(key, size)` drops bytes past `size` (the service calls it for garbage past the
  committed offset, and to discard a rejected chunk).
- `writer(key, offset, hashers)` appends from `offset`. Callers serialize writers per key (the
  PostgreSQL lease); a store never sees two writers on one key.
- `make_durable(key, new=...)` returns once every written byte survives a power loss (fsync).

Optional capabilities, checked with isinstance() by whoever needs them (the advertised
Tus-Extension list follows from them):
- `Terminator.delete(key)`: termination and cleanup.
- `RangeReader.read(key, start, end)`: GET downloads.
- `LocalFiles.path(key)`: a local path, so downloads can use sendfile.
- `Concatenator.concatenate(key, parts)`: build a complete object from complete parts (the
  concatenation extension). It must be crash-safe and idempotent: until it returns, `key` either
  does not exist or is incomplete and will be rebuilt by a retry; it never looks complete early.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

StoreState = dict[str, Any]


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class Writer(Protocol):
    """Appends to one object. Not safe for concurrent use."""

    @property
    def written(self) -> int:
        """Bytes whose write has completed (reached the OS), counted from the start offset."""
        ...

    async def write(self, data: bytes) -> None:
        """Queue `data`; may return before it is written. Errors surface here or in `flush`."""
        ...

    async def flush(self, *, fsync: bool = False) -> int:
        """Wait until everything queued is written (and fsync'd if asked); returns `written`."""
        ...

    async def close(self) -> None:
        """Flush and release resources. Safe to call twice and after an error."""
        ...

    @property
    def state(self) -> StoreState | None:
        """The store's bookkeeping after the last completed write, to persist with the offset."""
        ...


@runtime_checkable
class Store(Protocol):
    async def create(self, key: str) -> StoreState | None: ...

    async def size(self, key: str, state: StoreState | None = None) -> int: ...

    async def truncate(self, key: str, size: int, state: StoreState | None = None) -> StoreState | None: ...

    def writer(
        self,
        key: str,
        offset: int,
        hashers: list[Hasher] | None = None,
        state: StoreState | None = None,
    ) -> Writer: ...

    async def make_durable(
        self, key: str, state: StoreState | None = None, *, new: bool = False
    ) -> StoreState | None:
        """Called once when the upload completes (and with fsync-every-patch after each PATCH):
        afterwards the whole object must survive a power loss and be readable with `read`.
        `new`: the object was created by this same request (creation-with-upload), so no earlier
        attempt can have left anything behind, and a store may skip looking for leftovers.
        A store whose completion changes what later calls find (S3's CompleteMultipartUpload)
        sets the class attribute `completion_consumes_state = True`: the service then commits
        offset == length before calling this, so a crash in between is finished by a retry."""
        ...


@runtime_checkable
class Terminator(Protocol):
    async def delete(self, key: str, state: StoreState | None = None) -> None: ...


@runtime_checkable
class RangeReader(Protocol):
    def read(self, key: str, start: int, end: int, state: StoreState | None = None) -> AsyncIterator[bytes]:
        """Yield the bytes start..end (inclusive) of a completed object, in chunks."""
        ...


@runtime_checkable
class Concatenator(Protocol):
    async def concatenate(
        self, key: str, parts: list[tuple[str, StoreState | None]], pause: float = 0.0
    ) -> StoreState | None:
        """Write the parts' bytes, in order, into a new complete (durable) object `key`.
        `pause` sleeps between parts: a fault-injection knob for crash tests, 0 in production."""
        ...


@runtime_checkable
class Describer(Protocol):
    def describe(
        self,
        key: str,
        state: StoreState | None,
        *,
        length: int | None = None,
        content_type: str | None = None,
    ) -> StoreState:
        """Tell the store what it may plan with: the upload's length (once known) and the
        content type its object should carry. Pure: returns the new state, does no I/O."""
        ...


@runtime_checkable
class LocalFiles(Protocol):
    def path(self, key: str) -> Path: ...


@runtime_checkable
class PieceStore(Protocol):
    """Small byte strings every instance can read, where a store may keep the bytes of an
    unfinished upload that do not fill a part yet (the S3 store's pending pieces). A piece is
    written once under a unique name and never changed; `owner` (the upload's storage key) groups
    an upload's pieces so that cleanup finds those no state references (a crashed writer's).
    Implemented in state/ (PostgreSQL) and handed to the store where everything is wired."""

    async def put(self, owner: str, name: str, data: bytes) -> None: ...

    async def get(self, names: list[str]) -> dict[str, bytes]:
        """The pieces found, by name (a missing one is simply absent)."""
        ...

    async def delete(self, names: list[str]) -> None: ...

    async def names(self, owner: str) -> list[str]: ...
