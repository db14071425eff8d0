"""A JSON body is measured before it is parsed: how deep it nests decides, strings aside."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.jsonbody import MAX_DEPTH, parse_body
from liaison.errors import MappingError

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    return 0


def _wrapped(value: object, levels: int) -> object:
    for n in range(levels):
        value = [value] if n % 2 else {"k": value}
    return value


@given(_VALUES, st.integers(0, 40))
def test_a_body_is_taken_exactly_when_it_nests_no_deeper_than_the_bound(value, extra):
    body = _wrapped(value, extra)
    raw = json.dumps(body).encode()
    if _nesting(body) <= MAX_DEPTH:
        assert parse_body(raw) == body
    else:
        with pytest.raises(MappingError, match="deeper"):
            parse_body(raw)


# The last: an unterminated string full of escaped quotes, which a string pattern that
# starts again at every quote would take quadratic time over.
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a": ' * 50_000,
        b"\xff\xfe{}",
        b"{'a': 1}",
        b"[" * 33 + b'"' + b'\\"' * 200_000,
    ],
)
def test_what_is_no_json_is_a_mapping_error_never_a_crash(raw):
    with pytest.raises(MappingError):
        parse_body(raw)


@given(st.integers(4301, 20_000), st.sampled_from(["", "-"]))
def test_a_number_too_long_for_the_parser_is_not_json_like_any_other(digits, sign):
    """Python's parser refuses integers of more than 4,300 digits with a plain ValueError;
    the body reader answers with its own error, as for any body that is not JSON."""
    raw = f'{{"record_id": "R1", "version": {sign}{"7" * digits}}}'.encode()
    with pytest.raises(MappingError) as refused:
        parse_body(raw)
    assert refused.value.field == "body"
    assert "7777" not in str(refused.value)
