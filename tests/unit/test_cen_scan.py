"""The CEN source's first pass over a file: its digest and its UTF-8 check, a chunk at a
time (the rows are read after it, as a stream)."""

import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.cen import source


@given(
    st.text(min_size=0, max_size=60),
    st.integers(1, 9),
    st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"]),
    st.text(max_size=20),
)
def test_the_first_bad_byte_is_named_wherever_the_chunks_fall(before, chunk, bad, after):
    """A chunk may end inside a character: the reason names the byte where the bad
    sequence starts in the file, whatever the chunk size."""
    raw = before.encode() + bad + after.encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "_CHUNK", chunk)
        with pytest.raises(source._RefusedFileError) as refused:
            source._scan(io.BytesIO(raw), cap=1 << 20)
    assert refused.value.reason == f"not UTF-8 text (byte {len(before.encode())})"
    assert refused.value.original == raw


@given(st.text(max_size=200), st.integers(1, 9))
def test_the_digest_is_the_contents_and_the_file_is_left_at_its_start(text, chunk):
    raw = text.encode()
    file = io.BytesIO(raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "_CHUNK", chunk)
        digest = source._scan(file, cap=1 << 20)
    assert digest == hashlib.sha256(raw).hexdigest()
    assert file.read() == raw


def test_a_file_that_grows_past_the_cap_while_read_is_refused():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "_CHUNK", 4)
        with pytest.raises(source._RefusedFileError) as refused:
            source._scan(io.BytesIO(b"a" * 20), cap=10)
    assert "over the cap of 10 bytes" in refused.value.reason
