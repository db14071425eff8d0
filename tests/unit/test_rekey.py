"""Each person's and document's watch key under the old secret maps to its key under the new."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from liaison.model.police import IdentifierKind, PoliceAlert
from pipelines.enrich.rekey import key_map
from pipelines.enrich.watchlist import PersonKeys, alert_keys, customs_keys
from stack.synthetic.generator import TrafficGenerator

OLD, NEW = PersonKeys(b"an old key, sixteen+"), PersonKeys(b"a new key, sixteen+ too")
KEYED = (IdentifierKind.PERSON, IdentifierKind.TRAVEL_DOCUMENT)


def _keys(event, persons: PersonKeys) -> set[str]:
    payload = event.payload
    found = (
        alert_keys(payload, persons)
        if isinstance(payload, PoliceAlert)
        else customs_keys(event, persons)
    )
    return {str(k) for k in found if k.kind in KEYED}


@given(st.integers(0, 10_000))
def test_every_keyed_identifier_of_a_record_maps_to_its_key_under_the_new_secret(seed):
    events = [r.event for r in TrafficGenerator(seed=seed).take(200) if r.event is not None]
    mapping = key_map(events, OLD, NEW)
    assert any(_keys(event, OLD) for event in events)  # the traffic names persons
    for event in events:
        old, new = _keys(event, OLD), _keys(event, NEW)
        assert old <= set(mapping)  # nothing of the record is left behind
        assert {mapping[k] for k in old} == new  # and each lands where the new key puts it
