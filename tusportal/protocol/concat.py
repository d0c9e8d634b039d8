"""Upload-Concat: "partial", or "final;<url> <url> ..." naming the partial uploads in order."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tusportal.errors import InvalidConcat

_OWS = " \t"


@dataclass(frozen=True)
class Partial:
    pass


@dataclass(frozen=True)
class Final:
    urls: tuple[str, ...]


def _valid_url(url: str) -> bool:
    return all(0x21 <= ord(c) <= 0x7E for c in url)


def parse_concat(header: str | None) -> Partial | Final | None:
    if header is None:
        return None
    text = header.strip(_OWS)
    if text == "partial":
        return Partial()
    if not text.startswith("final;"):
        raise InvalidConcat("Upload-Concat must be 'partial' or 'final;<url> ...'")
    urls = tuple(text[len("final;") :].split())
    if not urls:
        raise InvalidConcat("Upload-Concat: final names no partial uploads")
    if not all(_valid_url(url) for url in urls):
        raise InvalidConcat("Upload-Concat: final contains a URL with invalid characters")
    return Final(urls)


def serialize_concat(c: Partial | Final) -> str:
    if isinstance(c, Partial):
        return "partial"
    return "final;" + " ".join(c.urls)


def upload_id_from_url(url: str, base_path: str) -> str | None:
    """The upload id in an absolute or root-relative URL under base_path, else None.

    Only the path is compared: the caller decides whether an absolute URL's host is ours.
    """
    prefix = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    if not path.startswith(prefix):
        return None
    upload_id = path[len(prefix) :]
    if not upload_id or "/" in upload_id:
        return None
    return upload_id
