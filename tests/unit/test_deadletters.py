"""One dead-letter builder with one id rule, for every part."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.deadletters import dead_letter
from liaison.errors import BadEventError, LiaisonError
from pipelines.records import read_event

places = st.tuples(
    st.text(min_size=1, max_size=20),  # stage
    st.text(min_size=1, max_size=40),  # source
    st.none() | st.integers(0, 64),  # partition
    st.none() | st.integers(0, 10**9),  # offset
    st.binary(max_size=200),  # the input
)


def _letter(place):
    stage, source, partition, offset, value = place
    return dead_letter(
        value=value,
        stage=stage,
        kind="MappingError",
        reason="a field",
        source=source,
        partition=partition,
        offset=offset,
    )


@given(places)
def test_the_same_input_failing_again_at_the_same_place_keeps_its_id(place):
    first, again = _letter(place), _letter(place)
    assert first.dead_letter_id == again.dead_letter_id
    assert first.original_value == place[4]


@given(places, places)
def test_inputs_that_differ_in_stage_place_or_bytes_get_different_ids(one, other):
    if one != other:
        assert _letter(one).dead_letter_id != _letter(other).dead_letter_id


def test_the_reason_is_not_parsed_out_of_a_message_but_carried_as_a_kind():
    with pytest.raises(BadEventError) as caught:
        read_event(AvroCodec(EVENT), b"not avro at all")
    error = caught.value
    assert isinstance(error, LiaisonError)
    assert error.kind == "BadMarkerError"
    assert ":" not in error.kind
    assert str(error) == f"{error.kind}: {error.reason}"
