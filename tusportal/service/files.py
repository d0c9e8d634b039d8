"""FileCatalog: the file list of the web UI (search, filter, sort, paginate) and one file's record.

Knows no HTTP. Bad listing parameters raise `InvalidListing` (400), never reach SQL as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tusportal.errors import InvalidRequestBody
from tusportal.state.files import SORT_COLUMNS, FileFilter, FileRepository, FileRow

UPLOAD_STATES = ("active", "finished", "expired", "terminated")
# what the list shows without a state filter: deleted files stay out of the way
DEFAULT_STATES = ("active", "finished", "expired")
SORTS = tuple(SORT_COLUMNS)
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
MAX_NAME_LENGTH = 200


class InvalidListing(InvalidRequestBody):
    code = "invalid_listing"


@dataclass(frozen=True)
class FileQuery:
    """What a caller asks for; `state` is one of UPLOAD_STATES, "all", or None (not deleted)."""

    owner_id: str | None = None
    name: str | None = None
    state: str | None = None
    batch_id: str | None = None
    sort: str = "created"
    descending: bool = True
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class FilePage:
    files: list[FileRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def check(query: FileQuery) -> FileFilter:
    if query.sort not in SORT_COLUMNS:
        raise InvalidListing(f"sort must be one of {', '.join(SORTS)}")
    if query.state is not None and query.state != "all" and query.state not in UPLOAD_STATES:
        raise InvalidListing(f"state must be one of {', '.join(UPLOAD_STATES)} or all")
    if not 1 <= query.per_page <= MAX_PER_PAGE:
        raise InvalidListing(f"per_page must be in 1..{MAX_PER_PAGE}")
    if not 1 <= query.page <= MAX_PAGE:
        raise InvalidListing(f"page must be in 1..{MAX_PAGE}")
    if query.name is not None and len(query.name) > MAX_NAME_LENGTH:
        raise InvalidListing(f"the name to search for is longer than {MAX_NAME_LENGTH} characters")
    states: tuple[str, ...] | None
    if query.state is None:
        states = DEFAULT_STATES
    elif query.state == "all":
        states = None
    else:
        states = (query.state,)
    return FileFilter(
        owner_id=query.owner_id,
        states=states,
        batch_id=query.batch_id or None,
        name_contains=query.name or None,
    )


class FileCatalog:
    def __init__(self, files: FileRepository):
        self.files = files

    async def search(self, query: FileQuery) -> FilePage:
        where = check(query)
        total = await self.files.count(where)
        rows = await self.files.page(
            where,
            sort=query.sort,
            descending=query.descending,
            limit=query.per_page,
            offset=(query.page - 1) * query.per_page,
        )
        return FilePage(rows, total, query.page, query.per_page)

    async def recent(self, owner_id: str | None, limit: int = 10) -> list[FileRow]:
        return (await self.search(FileQuery(owner_id=owner_id, per_page=limit))).files

    async def totals_by_state(self, owner_id: str | None) -> dict[str, tuple[int, int, int]]:
        """state -> (files, bytes received, bytes expected)."""
        return await self.files.totals_by_state(owner_id)
