"""Where an upload's bytes are in the bucket: the S3 store's half of `uploads.storage_state`.

An unfinished upload's bytes [0, size) are, in order:
- `parts`: the parts of one multipart upload (`upload_id`) of the final object; each but the
  last of the finished object is at least 5 MiB, so they never hold the tail of an upload;
- `pending`: pieces — small objects under `<prefix>.pending/<key>/`, or rows in PostgreSQL —
  holding the bytes after the parts. Every instance can read them, so any instance can resume.
  They hold less than a part, except while the next part is being built from them in the
  background (background.py); every cut of that part takes them by the rule of `part_prefix`.

`retired` lists pieces whose bytes now live in a part, in the finished object or in a merged
piece. They are deleted only once a state without them in `pending` is committed (the next
writer, completion or deletion does it), and until then a truncate can bring them back.

A finished upload (`complete`) is one object; a writer that knew the length and received the
last byte of a small upload may also have written the object directly (`direct`).

Parts and pieces are named once, uniquely per writer, so a writer that crashed before its state was
committed leaves only objects that no state references: completion and deletion list and remove
them. The JSON is compact because it is rewritten at every checkpoint: parts are
[number, etag, size] or [number, etag, size, crc32], pieces [name, start, size] (`size` may be less
than the object's length after a truncate).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tusportal.storage.base import StoreState

VERSION = 1


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    size: int
    checksum: str | None = None  # CRC-32, base64, in an upload created with `crc32`

    def completion(self) -> tuple[int, str, str | None]:
        return self.number, self.etag, self.checksum


@dataclass(frozen=True)
class Piece:
    name: str
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass
class Layout:
    object: str
    upload_id: str | None = None
    checksum: str | None = None  # "crc32": the multipart upload was created with CRC-32 checksums
    parts: list[Part] = field(default_factory=list)
    pending: list[Piece] = field(default_factory=list)
    retired: list[Piece] = field(default_factory=list)
    length: int | None = None
    content_type: str | None = None
    direct: bool = False  # the final object was written whole by a writer; not yet completed
    complete: bool = False
    object_size: int = 0  # of the final object, when `direct` or `complete`

    @property
    def parts_end(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def size(self) -> int:
        if self.direct or self.complete:
            return self.object_size
        return self.parts_end + sum(p.size for p in self.pending)

    def copy(self) -> Layout:
        return dataclasses.replace(
            self, parts=list(self.parts), pending=list(self.pending), retired=list(self.retired)
        )

    def to_state(self) -> StoreState:
        state: dict[str, Any] = {"v": VERSION, "object": self.object}
        if self.complete:
            state.update(complete=True, size=self.object_size)
        else:
            if self.upload_id is not None:
                state["upload_id"] = self.upload_id
            if self.checksum is not None:
                state["checksum"] = self.checksum
            if self.parts:
                state["parts"] = [
                    [p.number, p.etag, p.size] + ([p.checksum] if p.checksum is not None else [])
                    for p in self.parts
                ]
            if self.pending:
                state["pending"] = [[p.name, p.start, p.size] for p in self.pending]
            if self.direct:
                state.update(direct=True, size=self.object_size)
        if self.retired:
            state["retired"] = [[p.name, p.start, p.size] for p in self.retired]
        if self.length is not None:
            state["length"] = self.length
        if self.content_type is not None:
            state["content_type"] = self.content_type
        return state

    @classmethod
    def from_state(cls, state: StoreState | None, default_object: str) -> Layout:
        if not state or "object" not in state:
            return cls(
                object=default_object,
                length=(state or {}).get("length"),
                content_type=(state or {}).get("content_type"),
            )
        if state.get("v") != VERSION:
            raise ValueError(f"unknown S3 storage state version {state.get('v')!r}")
        complete = bool(state.get("complete"))
        direct = bool(state.get("direct"))
        return cls(
            object=state["object"],
            upload_id=state.get("upload_id"),
            checksum=state.get("checksum"),
            parts=[_part(p) for p in state.get("parts", ())],
            pending=[Piece(str(n), int(b), int(s)) for n, b, s in state.get("pending", ())],
            retired=[Piece(str(n), int(b), int(s)) for n, b, s in state.get("retired", ())],
            length=state.get("length"),
            content_type=state.get("content_type"),
            direct=direct,
            complete=complete,
            object_size=int(state.get("size", 0)) if (direct or complete) else 0,
        )


def _part(entry: list[Any]) -> Part:
    number, etag, size, *rest = entry
    return Part(int(number), str(etag), int(size), str(rest[0]) if rest else None)


def restore_pieces(candidates: list[Piece], start: int, end: int) -> list[Piece] | None:
    """A chain of pieces covering [start, end) from `candidates` (the last one cut short), or None.

    Used by truncate: the bytes between the last kept part and the new size must come from pieces
    that are pending or retired (parts of an unfinished multipart upload cannot be read back)."""
    if start == end:
        return []
    by_start: dict[int, list[Piece]] = {}
    for piece in candidates:
        if piece.size > 0:
            by_start.setdefault(piece.start, []).append(piece)
    seen: set[int] = set()

    def walk(pos: int) -> list[Piece] | None:
        if pos in seen:
            return None
        seen.add(pos)
        for piece in sorted(by_start.get(pos, ()), key=lambda p: -p.size):
            if piece.end >= end:
                return [Piece(piece.name, piece.start, end - piece.start)]
            rest = walk(piece.end)
            if rest is not None:
                return [piece, *rest]
        return None

    return walk(start)


def part_prefix(pending: list[Piece], size: int) -> int:
    """How many of the `pending` pieces form the next part when they alone hold at least `size`
    bytes (the part's planned size): the fewest that reach it. 0 when they hold less; the part is
    then cut from the pieces and the bytes that follow them.

    This is the rule every cut follows, on every instance: from the same committed pieces, a part
    built in the background (background.py) and the same part built by a request have the same
    bytes, so whichever upload of that part number S3 keeps, the etag a state names is right."""
    total = 0
    for count, piece in enumerate(pending, start=1):
        total += piece.size
        if total >= size:
            return count
    return 0
