"""Response headers for downloads that are safe whatever the uploader put in the metadata.

The filename and content type come from the client that uploaded, so they are hostile input:
nothing here lets a control character, CR or LF reach a header, and only types browsers do not
execute are shown inline.
"""

from __future__ import annotations

import re
from urllib.parse import quote

DISPOSITIONS = ("attachment", "inline")
OCTET_STREAM = "application/octet-stream"

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEDIA_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})", re.ASCII)
_CHARSET = re.compile(r"charset=\"?([A-Za-z0-9!#$%&'+\-^_`{}~]+)\"?", re.ASCII | re.IGNORECASE)
# RFC 8187 attr-char minus what quote() already keeps (ALPHA, DIGIT, "-", ".", "_", "~").
_ATTR_CHAR_EXTRA = "!#$&+^`|"
_FALLBACK_UNSAFE = set('"\\;')

INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "text/plain",
        "application/pdf",
        "application/json",
    }
)
INLINE_PREFIXES = ("video/", "audio/")


def _ascii_fallback(filename: str) -> str:
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in _FALLBACK_UNSAFE else "_" for c in filename)


def content_disposition(filename: str | None, disposition: str) -> str:
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of {DISPOSITIONS}, got {disposition!r}")
    if not filename:
        return disposition
    encoded = quote(filename, safe=_ATTR_CHAR_EXTRA, encoding="utf-8", errors="replace")
    return f"{disposition}; filename=\"{_ascii_fallback(filename)}\"; filename*=UTF-8''{encoded}"


def safe_content_type(value: str | None) -> str:
    """A clean "type/subtype" (plus a valid charset), or application/octet-stream."""
    if not value:
        return OCTET_STREAM
    media, *params = value.split(";")
    match = _MEDIA_TYPE.fullmatch(media.strip(" \t"))
    if match is None:
        return OCTET_STREAM
    clean = f"{match[1]}/{match[2]}".lower()
    for param in params:
        charset = _CHARSET.fullmatch(param.strip(" \t"))
        if charset is not None:
            return f"{clean}; charset={charset[1].lower()}"
    return clean


def disposition_for(content_type: str) -> str:
    """ "inline" only for types browsers display without running them; otherwise "attachment"."""
    media = content_type.split(";", 1)[0].strip(" \t").lower()
    if media in INLINE_TYPES or media.startswith(INLINE_PREFIXES):
        return "inline"
    return "attachment"
