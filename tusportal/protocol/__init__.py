"""tus 1.0.0 as pure functions: parse and serialize headers, check protocol rules.

No I/O and no framework imports: the web layer calls these and maps the raised `TusError`s.
"""

from tusportal.protocol.checksum import (
    SUPPORTED_ALGORITHMS,
    Checksum,
    Hasher,
    new_hasher,
    parse_checksum,
)
from tusportal.protocol.concat import (
    Final,
    Partial,
    parse_concat,
    serialize_concat,
    upload_id_from_url,
)
from tusportal.protocol.download import content_disposition, disposition_for, safe_content_type
from tusportal.protocol.headers import (
    SUPPORTED_VERSIONS,
    TUS_VERSION,
    check_tus_resumable,
    format_http_date,
    parse_content_length,
    parse_defer_length,
    parse_http_date,
    parse_length,
    parse_offset,
)
from tusportal.protocol.metadata import (
    Metadata,
    filename_and_type,
    metadata_text,
    parse_metadata,
    serialize_metadata,
)
from tusportal.protocol.ranges import parse_range

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "SUPPORTED_VERSIONS",
    "TUS_VERSION",
    "Checksum",
    "Final",
    "Hasher",
    "Metadata",
    "Partial",
    "check_tus_resumable",
    "content_disposition",
    "disposition_for",
    "filename_and_type",
    "format_http_date",
    "metadata_text",
    "new_hasher",
    "parse_checksum",
    "parse_concat",
    "parse_content_length",
    "parse_defer_length",
    "parse_http_date",
    "parse_length",
    "parse_metadata",
    "parse_offset",
    "parse_range",
    "safe_content_type",
    "serialize_concat",
    "serialize_metadata",
    "upload_id_from_url",
]
