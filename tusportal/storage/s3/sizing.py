"""S3 multipart part sizes: pure arithmetic within the limits every S3 implementation enforces.

Limits: a part is 5 MiB to 5 GiB, except the last, which may be smaller; at most 10,000 parts; an
object is at most 5 TiB. `part_size` answers "how big is part n, which starts at byte `start`":

- With a known length, parts have one size: the configured one, or more when the length would
  otherwise need more than 10,000 parts (`length / 10,000`, rounded up to a MiB). Uniform parts
  also satisfy providers (R2) that require every part but the last to have the same size. When the
  length becomes known late (deferred length), parts are also at least what remains divided by the
  parts that remain.
- With an unknown length, the size doubles every `GROWTH_EVERY` parts, so that 10,000 parts hold
  the largest object even from the smallest configured size, while uploads below a few GiB never
  grow past the configured size (and so never need more memory).
"""

from __future__ import annotations

MIB = 1 << 20
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MIB
GROWTH_EVERY = 800


def clamp_part_size(configured: int) -> int:
    """A configured part size made valid: within S3's limits, whole MiB."""
    return min(max(_ceil_to(configured, MIB), MIN_PART_SIZE), MAX_PART_SIZE)


def part_size(number: int, start: int, configured: int, length: int | None) -> int:
    """Size of part `number` (1-based) that starts at byte `start` of the upload.

    The last part of an upload is whatever remains, which may be less than this."""
    if number < 1 or number > MAX_PARTS:
        raise ValueError(f"part number {number} outside 1..{MAX_PARTS}")
    base = clamp_part_size(configured)
    if length is None:
        size = base << min((number - 1) // GROWTH_EVERY, 20)
    else:
        remaining = max(length - start, 0)
        uniform = _ceil_to(-(-length // MAX_PARTS), MIB)
        size = max(base, uniform, _ceil_to(-(-remaining // (MAX_PARTS - number + 1)), MIB))
    return min(size, MAX_PART_SIZE)


def capacity(configured: int) -> int:
    """Bytes that 10,000 parts hold when the length is unknown."""
    return sum(part_size(number, 0, configured, None) for number in range(1, MAX_PARTS + 1))


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step
