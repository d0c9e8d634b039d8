"""Upload-Metadata: comma-separated "key base64value" pairs.

Contract: `parse_metadata` accepts exactly the grammar of the tus creation extension plus
whitespace around each pair, and rejects everything else with `InvalidMetadata` naming the problem.
A pair with only a key maps to None. The spec treats "key" and "key " (empty value) alike, so an
empty value also parses to None, and `serialize_metadata` writes both None and b"" as a bare key.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeAlias

from tusportal.errors import InvalidMetadata

Metadata: TypeAlias = dict[str, bytes | None]

MAX_METADATA_CHARS = 64 * 1024
MAX_METADATA_PAIRS = 256
_OWS = " \t"

FILENAME_KEYS = ("filename", "name")
CONTENT_TYPE_KEYS = ("filetype", "type", "contentType", "content-type")


def _valid_key(key: str) -> bool:
    return bool(key) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in key)


def _decode_value(key: str, value: str) -> bytes:
    if len(value) % 4:
        raise InvalidMetadata(f"value of {key!r} is not valid base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMetadata(f"value of {key!r} is not valid base64") from None


def parse_metadata(header: str | None) -> Metadata:
    if header is None or not header.strip(_OWS):
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise InvalidMetadata(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    pairs = header.split(",")
    if len(pairs) > MAX_METADATA_PAIRS:
        raise InvalidMetadata(f"Upload-Metadata has more than {MAX_METADATA_PAIRS} pairs")
    result: Metadata = {}
    # the whole header may carry optional whitespace; pairs may not (the grammar has none, and
    # "a YQ==, Yg==" would otherwise hide an empty key)
    pairs[0] = pairs[0].lstrip(_OWS)
    pairs[-1] = pairs[-1].rstrip(_OWS)
    for text in pairs:
        if not text:
            raise InvalidMetadata("empty pair in Upload-Metadata")
        key, space, value = text.partition(" ")
        if not _valid_key(key):
            raise InvalidMetadata(
                f"invalid key {key!r}: keys are non-empty printable ASCII, pairs are 'key base64value' "
                "separated by ',' with no spaces around it"
            )
        if key in result:
            raise InvalidMetadata(f"duplicate key {key!r}")
        if space and " " in value:
            raise InvalidMetadata(f"pair for {key!r} has more than one space")
        result[key] = _decode_value(key, value) or None
    return result


def serialize_metadata(m: Metadata) -> str:
    """Inverse of `parse_metadata`; raises ValueError on a key the grammar cannot carry."""
    parts = []
    for key, value in m.items():
        if not _valid_key(key):
            raise ValueError(f"metadata key {key!r} cannot be serialized")
        parts.append(f"{key} {base64.b64encode(value).decode('ascii')}" if value else key)
    return ",".join(parts)


def metadata_text(m: Metadata) -> dict[str, str | None]:
    """Metadata as text for JSON storage; undecodable bytes become U+FFFD."""
    return {k: None if v is None else v.decode("utf-8", errors="replace") for k, v in m.items()}


def _first_text(m: Metadata, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = m.get(key)
        if value:
            return value.decode("utf-8", errors="replace")
    return None


def filename_and_type(m: Metadata) -> tuple[str | None, str | None]:
    """The client's file name and declared content type, as sent by Uppy, tus-js-client, tuspy."""
    return _first_text(m, FILENAME_KEYS), _first_text(m, CONTENT_TYPE_KEYS)
