"""Property tests of batch progress arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tusportal.batching import FileProgress, percent, progress

STATES = st.sampled_from(["active", "finished", "terminated", "expired"])


@st.composite
def files(draw: st.DrawFn) -> FileProgress:
    state = draw(STATES)
    length = draw(st.none() | st.integers(min_value=0, max_value=10**12))
    if state == "finished" and length is None:
        length = draw(st.integers(min_value=0, max_value=10**12))
    if length is None:
        offset = draw(st.integers(min_value=0, max_value=10**12))
    elif state == "finished":
        offset = length
    else:
        offset = draw(st.integers(min_value=0, max_value=length))
    return FileProgress(length, offset, state)


@given(st.lists(files(), max_size=50))
def test_progress_invariants(items: list[FileProgress]) -> None:
    p = progress(items)
    live = [f for f in items if f.state in ("active", "finished")]
    assert p.files_total == len(live)
    assert 0 <= p.files_completed <= p.files_total
    assert p.bytes_received == sum(f.offset for f in live)
    assert p.bytes_total == sum(f.length for f in live if f.length is not None)
    assert p.lengths_known == all(f.length is not None for f in live)
    if p.lengths_known:
        assert p.bytes_received <= p.bytes_total
        pct = percent(p)
        assert pct is not None and 0.0 <= pct <= 100.0
        if p.files_completed == p.files_total:
            assert pct == 100.0
    else:
        assert percent(p) is None


@given(st.lists(files(), max_size=30), st.lists(files(), max_size=30))
def test_progress_is_additive(a: list[FileProgress], b: list[FileProgress]) -> None:
    pa, pb, pab = progress(a), progress(b), progress(a + b)
    assert pab.files_total == pa.files_total + pb.files_total
    assert pab.files_completed == pa.files_completed + pb.files_completed
    assert pab.bytes_received == pa.bytes_received + pb.bytes_received
    assert pab.bytes_total == pa.bytes_total + pb.bytes_total


def test_dropped_files_do_not_count() -> None:
    p = progress([FileProgress(10, 10, "finished"), FileProgress(10, 3, "terminated")])
    assert (p.files_total, p.files_completed, p.bytes_received, p.bytes_total) == (1, 1, 10, 10)
    assert percent(p) == 100.0
