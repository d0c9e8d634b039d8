"""Part sizes stay within S3's limits for every length, known early, late or never."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tusportal.storage.s3.sizing import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    MIN_PART_SIZE,
    capacity,
    clamp_part_size,
    part_size,
)

configured_sizes = st.integers(min_value=1, max_value=6 * 1024 * MIB)
lengths = st.integers(min_value=0, max_value=MAX_OBJECT_SIZE)


def split(length: int, configured: int, known_from_part: int = 1) -> list[int]:
    """The parts an upload of `length` bytes is cut into; the length is known from the given part on."""
    parts: list[int] = []
    start = 0
    while start < length:
        number = len(parts) + 1
        size = part_size(number, start, configured, length if number >= known_from_part else None)
        size = min(size, length - start)
        parts.append(size)
        start += size
        assert len(parts) <= MAX_PARTS
    return parts


@settings(max_examples=300, deadline=None)
@given(configured=configured_sizes)
def test_configured_size_is_made_valid(configured: int) -> None:
    size = clamp_part_size(configured)
    assert MIN_PART_SIZE <= size <= MAX_PART_SIZE
    assert size % MIB == 0
    assert size >= min(configured, MAX_PART_SIZE)


@settings(max_examples=60, deadline=None)
@given(length=lengths, configured=configured_sizes)
def test_known_length_fits_in_uniform_valid_parts(length: int, configured: int) -> None:
    parts = split(length, configured)
    assert len(parts) <= MAX_PARTS
    assert sum(parts) == length
    for size in parts[:-1]:
        assert MIN_PART_SIZE <= size <= MAX_PART_SIZE
    # one size for every part but the last (providers such as R2 require it)
    assert len(set(parts[:-1])) <= 1
    if parts[:-1]:
        assert parts[0] >= clamp_part_size(configured)


@settings(max_examples=40, deadline=None)
@given(
    length=lengths,
    configured=configured_sizes,
    known_from=st.integers(min_value=1, max_value=MAX_PARTS),
)
def test_length_declared_late_still_fits(length: int, configured: int, known_from: int) -> None:
    """Deferred length: parts follow the growing schedule until the length is declared."""
    parts = split(length, configured, known_from_part=known_from)
    assert sum(parts) == length
    assert len(parts) <= MAX_PARTS
    for size in parts[:-1]:
        assert MIN_PART_SIZE <= size <= MAX_PART_SIZE


@pytest.mark.parametrize("configured", [1, MIN_PART_SIZE, 8 * MIB, 64 * MIB, MAX_PART_SIZE])
def test_unknown_length_schedule_holds_the_largest_object(configured: int) -> None:
    assert capacity(configured) >= MAX_OBJECT_SIZE
    sizes = [part_size(n, 0, configured, None) for n in range(1, MAX_PARTS + 1)]
    assert sizes == sorted(sizes)  # never shrinks
    assert all(MIN_PART_SIZE <= s <= MAX_PART_SIZE for s in sizes)


@settings(max_examples=200, deadline=None)
@given(configured=configured_sizes, number=st.integers(min_value=1, max_value=800))
def test_small_unknown_uploads_use_the_configured_size(configured: int, number: int) -> None:
    """Below 800 parts nothing grows: memory stays at the configured part size."""
    assert part_size(number, 0, configured, None) == clamp_part_size(configured)


def test_part_numbers_outside_the_limit_are_refused() -> None:
    for number in (0, MAX_PARTS + 1):
        with pytest.raises(ValueError):
            part_size(number, 0, 8 * MIB, None)
