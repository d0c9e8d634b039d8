import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.errors import RangeNotSatisfiable
from tusportal.protocol import parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=0-99", 10, (0, 9)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=9-", 10, (9, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-10", 10, (0, 9)),
        ("bytes=-100", 10, (0, 9)),
        ("Bytes=1-2", 10, (1, 2)),
        (" bytes=1-2 ", 10, (1, 2)),
        ("bytes=0-" + "9" * 19, 10, (0, 9)),
    ],
)
def test_satisfiable(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=5-3",
        "bytes=0-1,3-4",
        "bytes=0-1, 3-4",
        "items=0-1",
        "bytes 0-1",
        "bytes=a-b",
        "bytes=+1-2",
        "bytes = 0-1",
        "bytes=0-1\r\n",
        "bytes=" + "1" * 40 + "-",
    ],
)
def test_ignored(header):
    assert parse_range(header, 10) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),
        ("bytes=10-20", 10),
        ("bytes=-0", 10),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
        ("bytes=0-0", 0),
    ],
)
def test_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, size)
    assert info.value.status == 416
    assert info.value.headers["Content-Range"] == f"bytes */{size}"


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 1000))
def test_result_is_inside_body(a, b, size):
    start, end = min(a, b), max(a, b)
    try:
        result = parse_range(f"bytes={start}-{end}", size)
    except RangeNotSatisfiable:
        assert start >= size
        return
    assert result is not None
    assert 0 <= result[0] <= result[1] < size
    assert result == (start, min(end, size - 1))
