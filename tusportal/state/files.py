"""The file list: uploads as the web UI lists them, filtered, sorted and paginated.

A "file" is every upload except the partial uploads of a parallel upload (those are parts of a file,
not files). Filters are SQL parameters; the sort column comes from `SORT_COLUMNS`, a fixed map, so no
caller-supplied text ever becomes SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusportal.state.db import Database

_NAME = "coalesce(u.metadata->>'filename', u.metadata->>'name')"

# sort key -> SQL expression; the only way a sort reaches the ORDER BY clause
SORT_COLUMNS = {
    "created": "u.created_at",
    "name": f"lower({_NAME})",
    "size": "u.upload_length",
    "state": "u.state",
    "finished": "u.finished_at",
}

_FILE_COLUMNS = (
    f"u.id, {_NAME}, coalesce(u.metadata->>'filetype', u.metadata->>'type'), u.state,"
    # a parallel upload still being sent has received the sum of its parts' offsets
    " CASE WHEN u.concat_kind = 'final' AND u.state = 'active' THEN"
    "   (SELECT coalesce(sum(p.upload_offset), 0) FROM unnest(u.concat_parts) AS part(pid)"
    "    JOIN uploads p ON p.id = part.pid)::bigint"
    " ELSE u.upload_offset END,"
    " u.upload_length, u.batch_id, b.name, u.owner_id, u.created_at, u.finished_at"
)

_WHERE = (
    " WHERE u.concat_kind IS DISTINCT FROM 'partial'"
    " AND (%(owner)s::text IS NULL OR u.owner_id = %(owner)s)"
    " AND (%(states)s::text[] IS NULL OR u.state = ANY(%(states)s::text[]))"
    " AND (%(batch)s::text IS NULL OR u.batch_id = %(batch)s)"
    f" AND (%(name)s::text IS NULL OR {_NAME} ILIKE %(name)s ESCAPE '\\')"
)


@dataclass(frozen=True)
class FileFilter:
    owner_id: str | None = None  # None: every owner's files
    states: tuple[str, ...] | None = None  # None: any state
    batch_id: str | None = None
    name_contains: str | None = None  # case-insensitive substring of the file name


@dataclass(frozen=True)
class FileRow:
    id: str
    filename: str | None
    filetype: str | None
    state: str
    offset: int  # bytes received
    length: int | None  # None while deferred
    batch_id: str | None
    batch_name: str | None
    owner_id: str | None
    created_at: datetime
    finished_at: datetime | None


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _params(where: FileFilter) -> dict[str, Any]:
    return {
        "owner": where.owner_id,
        "states": list(where.states) if where.states is not None else None,
        "batch": where.batch_id,
        "name": like_pattern(where.name_contains) if where.name_contains else None,
    }


class FileRepository:
    def __init__(self, db: Database):
        self.db = db

    async def page(
        self, where: FileFilter, *, sort: str = "created", descending: bool = True, limit: int, offset: int
    ) -> list[FileRow]:
        """One page of files; ties broken by id so pages never overlap. KeyError for an unknown sort."""
        column = SORT_COLUMNS[sort]
        direction = "DESC" if descending else "ASC"
        rows = await self.db.fetchall(
            f"SELECT {_FILE_COLUMNS} FROM uploads u LEFT JOIN batches b ON b.id = u.batch_id{_WHERE}"
            f" ORDER BY {column} {direction} NULLS LAST, u.id {direction}"
            " LIMIT %(limit)s OFFSET %(offset)s",
            {**_params(where), "limit": limit, "offset": offset},
        )
        return [FileRow(*r) for r in rows]

    async def count(self, where: FileFilter) -> int:
        row = await self.db.fetchone(f"SELECT count(*) FROM uploads u{_WHERE}", _params(where))
        return int(row[0]) if row else 0

    async def totals_by_state(self, owner_id: str | None = None) -> dict[str, tuple[int, int, int]]:
        """state -> (files, bytes received, bytes expected) for the dashboard."""
        rows = await self.db.fetchall(
            "SELECT u.state, count(*), coalesce(sum(u.upload_offset), 0),"
            " coalesce(sum(u.upload_length), 0) FROM uploads u"
            " WHERE u.concat_kind IS DISTINCT FROM 'partial'"
            " AND (%(owner)s::text IS NULL OR u.owner_id = %(owner)s) GROUP BY u.state",
            {"owner": owner_id},
        )
        return {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}
