from collections import defaultdict

import pytest

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.errors import SerdeError
from liaison.model import from_avro
from liaison.model.common import Event, Operation, SourceSystem
from liaison.model.customs import CisRecord, QuantityUnit, Seizure
from liaison.model.police import PoliceAlert
from liaison.validation import validate
from stack.synthetic.generator import Label, TrafficGenerator, TrafficMix

CODEC = AvroCodec(EVENT)


@pytest.fixture(scope="module")
def records():
    return TrafficGenerator(seed=11).take(4000)


def test_same_seed_same_bytes_other_seed_other_bytes():
    first = [(r.key, r.value) for r in TrafficGenerator(seed=5).take(1500)]
    again = [(r.key, r.value) for r in TrafficGenerator(seed=5).take(1500)]
    other = [(r.key, r.value) for r in TrafficGenerator(seed=6).take(1500)]
    assert first == again
    assert first != other


def test_every_kind_of_record_is_made_by_default(records):
    assert {r.label for r in records} == set(Label)


def test_shares_follow_the_mix_and_are_reported():
    mix = TrafficMix(replay=0.2, amendment=0.0, stale=0.0, erasure=0.0, malformed=0.1)
    generator = TrafficGenerator(seed=3, mix=mix)
    made = generator.take(5000)
    report = generator.report()
    assert report["replay"] == pytest.approx(0.2, abs=0.02)
    assert report["malformed-bytes"] == pytest.approx(0.1, abs=0.015)
    assert report["amendment"] == report["stale"] == report["erasure"] == 0
    assert sum(1 for r in made if r.label is Label.REPLAY) == generator.counts[Label.REPLAY]


def test_shares_must_leave_room_for_base_reports():
    with pytest.raises(ValueError, match=r"0\.9"):
        TrafficMix(replay=0.5, amendment=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        TrafficMix(replay=-0.1)


def test_records_decode_and_validate_unless_broken_on_purpose(records):
    for record in records:
        if record.label is Label.MALFORMED_BYTES:
            with pytest.raises(SerdeError):
                CODEC.decode(record.value)
            continue
        event = from_avro(Event, CODEC.decode(record.value))
        assert event == record.event
        problems = validate(event)
        if record.label is Label.INVALID_VALUES:
            assert [p.field for p in problems] == ["payload.route.origin_country"]
        else:
            assert problems == [], record.label


def test_versions_replays_and_stale_arrive_as_described(records):
    seen_bytes: set[bytes] = set()
    highest: dict[bytes, int] = defaultdict(int)
    for record in records:
        if record.label is Label.MALFORMED_BYTES:
            continue
        version = record.event.envelope.version
        if record.label is Label.REPLAY:
            assert record.value in seen_bytes
        elif record.label is Label.STALE:
            assert version < highest[record.key]
        elif record.label in (Label.AMENDMENT, Label.ERASURE):
            assert version > highest[record.key] >= 1
        if record.label is Label.ERASURE:
            assert record.event.envelope.operation is Operation.ERASURE
        seen_bytes.add(record.value)
        highest[record.key] = max(highest[record.key], version)


def _grams(record: CisRecord) -> float:
    """The first item's amount in grams, or infinity when it is not given in grams."""
    quantity = record.items[0].quantity
    return quantity.amount if quantity and quantity.unit is QuantityUnit.GRM else float("inf")


def test_cen_copies_match_an_earlier_cis_record_without_personal_data(records):
    cis = [r.event for r in records if r.label is Label.CIS_RECORD]
    copies = [r.event for r in records if r.label is Label.CROSS_SOURCE_COPY]
    assert copies
    for copy in copies:
        seizure = copy.payload
        assert isinstance(seizure, Seizure)
        assert copy.envelope.source_system is SourceSystem.CEN
        assert seizure.persons == ()
        assert seizure.quantity.unit is QuantityUnit.KGM
        # Flight numbers can repeat: the original is the one that also agrees on
        # the day and the amount.
        originals = [
            e
            for e in cis
            if isinstance(e.payload, CisRecord)
            and e.payload.conveyance == seizure.conveyance
            and e.payload.place == seizure.place
            and e.envelope.event_time.date() == copy.envelope.event_time.date()
            and abs(_grams(e.payload) / 1000 - seizure.quantity.amount) <= 0.051
        ]
        assert len(originals) == 1
        original = originals[0]
        assert copy.envelope.source_record_id != original.envelope.source_record_id


def test_watchlist_seizures_carry_a_watched_identifier(records):
    watched = {
        item.identifier for r in records if r.label is Label.ALERT for item in r.event.payload.items
    }
    hits = [r.event.payload for r in records if r.label is Label.WATCHLIST_SEIZURE]
    assert hits
    for seizure in hits:
        identifiers = {
            seizure.conveyance.vin,
            seizure.conveyance.imo_number,
            *seizure.conveyance.container_numbers,
            *seizure.firearm_serials,
            *seizure.object_ids,
        }
        assert identifiers & watched
    # Firearms and works of art are among them, carried where customs records them.
    assert any(set(seizure.firearm_serials) & watched for seizure in hits)
    assert any(set(seizure.object_ids) & watched for seizure in hits)


def test_people_in_the_data_are_invented(records):
    persons = [
        p for r in records if r.event is not None for p in getattr(r.event.payload, "persons", ())
    ]
    assert persons
    for person in persons:
        assert person.given_names in {
            "Testa",
            "Probo",
            "Ficta",
            "Nemo",
            "Ipsa",
            "Dummo",
            "Placida",
            "Exempla",
            "Nulla",
            "Varo",
        }


def test_derived_records_reuse_the_key_of_their_record(records):
    derived = (Label.REPLAY, Label.AMENDMENT, Label.STALE, Label.ERASURE)
    first_seen: dict[bytes, int] = {}
    for index, record in enumerate(records):
        if record.label not in derived and record.label is not Label.MALFORMED_BYTES:
            first_seen.setdefault(record.key, index)
    for index, record in enumerate(records):
        if record.label in derived:
            assert first_seen.get(record.key, len(records)) < index, record.label


def _carried(payload, with_imo=True):
    """What alerts can watch in a customs record: conveyance ids, serials, object ids."""
    conveyance = getattr(payload, "conveyance", None)
    found = []
    if conveyance is not None:
        found += [conveyance.vin, *conveyance.container_numbers]
        found += [conveyance.imo_number] if with_imo else []
    holders = getattr(payload, "items", ()) if isinstance(payload, CisRecord) else (payload,)
    for holder in holders:
        found += [*getattr(holder, "firearm_serials", ()), *getattr(holder, "object_ids", ())]
    return [identifier for identifier in found if identifier]


def test_without_watch_party_changes_no_match_races_an_amendment():
    """With amend_watch_parties off, no alert is ever amended or erased, and no customs
    record that a match was made for is changed, before or after the match."""
    mix = TrafficMix(cross_source=0.0, amend_watch_parties=False)
    records = TrafficGenerator(seed=5, mix=mix).take(6000)
    changed = {Label.AMENDMENT, Label.ERASURE, Label.STALE}
    seizures = {r.key for r in records if r.label is Label.WATCHLIST_SEIZURE}
    seen_identifiers: dict[str, bytes] = {}
    paired: set[bytes] = set(seizures)
    for record in records:
        event = record.event
        if event is None:
            continue
        payload = event.payload
        if isinstance(payload, PoliceAlert):
            if record.label is Label.ALERT_ON_SEEN:
                paired |= {seen_identifiers[i.identifier] for i in payload.items}
            continue
        if record.label not in changed:
            for identifier in _carried(payload, with_imo=False):
                seen_identifiers.setdefault(identifier, record.key)
    amended = [r for r in records if r.label in changed]
    assert amended, "amendments still happen, to other records"
    assert not any(isinstance(r.event.payload, PoliceAlert) for r in amended if r.event)
    assert not {r.key for r in amended} & paired
    # Nor does any alert watch, by chance, an identifier of a changed record.
    watched = {
        item.identifier
        for r in records
        if r.event is not None and isinstance(r.event.payload, PoliceAlert)
        for item in r.event.payload.items
    }
    changed_keys = {r.key for r in amended}
    carried = {
        identifier
        for r in records
        if r.key in changed_keys and r.event is not None
        for identifier in _carried(r.event.payload)
    }
    assert not watched & carried
    # By default alerts are amended like anything else.
    default = TrafficGenerator(seed=5, mix=TrafficMix(cross_source=0.0)).take(6000)
    assert any(
        isinstance(r.event.payload, PoliceAlert)
        for r in default
        if r.label in changed and r.event is not None
    )
