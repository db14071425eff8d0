import dataclasses
import functools
import uuid
from collections import defaultdict
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from liaison.handling import strictest
from liaison.identity import record_key
from liaison.model.common import DataSubjectCategory, DocumentType, Operation, SourceSystem
from liaison.model.customs import (
    CisCategory,
    CisItem,
    CisLegalFramework,
    CisRecord,
    Seizure,
    SuggestedAction,
)
from liaison.model.exchange import MatchDirection, WatchlistHit
from liaison.model.police import AlertType, IdentifierKind, PoliceAlert, WatchedItem
from liaison.policy import load_policy
from pipelines.enrich.enrich import enrich, risk
from pipelines.enrich.join import Entries, join
from pipelines.enrich.memory import dump_memory, load_memory, recall, remember
from pipelines.enrich.watchlist import PersonKeys, WatchKey, alert_keys, customs_keys, make_hit
from pipelines.route.decide import keep_until
from stack.synthetic.generator import Label, TrafficGenerator
from tests.samples import PERSONS, realistic_seizure

POLICY = load_policy()


def test_reference_data_and_risk_are_added():
    event = enrich(realistic_seizure())
    e = event.enrichment
    assert e is not None
    assert (e.wco_region, e.rilo) == ("Europe", "RILO Western Europe")
    assert (e.hs_chapter, e.hs_chapter_description) == (
        "29",
        "organic chemicals (including precursors)",
    )
    assert e.place_name == "Rotterdam"
    assert "port" in e.place_functions
    # Cocaine from Ecuador, 412.5 kg, a named suspect; not hidden in the structure.
    assert e.risk_reasons == ("known-source-route", "large-quantity", "named-suspect")
    assert e.risk_score == 40
    assert event.payload == realistic_seizure().payload  # facts untouched


def test_a_hit_raises_the_score_and_is_listed():
    event = enrich(realistic_seizure(), hits=1)
    assert event.enrichment is not None
    assert event.enrichment.risk_score == 90
    assert event.enrichment.risk_reasons[0] == "watchlist-hit"


def test_risk_is_capped_and_zero_without_reasons():
    alert_like = dataclasses.replace(
        realistic_seizure(),
        payload=PoliceAlert(
            alert_type=AlertType.FIREARM,
            alert_reference="F-1",
            issuing_country="DE",
            issuing_agency="DE police",
        ),
    )
    assert risk(alert_like, 0) == (0, ())
    assert risk(alert_like, 3)[0] == 50


def _alert_on(kind: IdentifierKind, identifier: str):
    return dataclasses.replace(
        realistic_seizure(),
        payload=PoliceAlert(
            alert_type=AlertType.STOLEN_VEHICLE,
            alert_reference="SMV-1",
            issuing_country="DE",
            issuing_agency="DE police",
            items=(WatchedItem(kind=kind, identifier=identifier),),
        ),
    )


def test_identifiers_match_whatever_their_spacing_and_case():
    seizure = realistic_seizure()  # container MSKU9070323, IMO 9321483
    alert = _alert_on(IdentifierKind.CONTAINER_NUMBER, "msku 907032-3")
    assert isinstance(alert.payload, PoliceAlert)
    common = alert_keys(alert.payload, PERSONS) & customs_keys(seizure, PERSONS)
    assert common == {WatchKey(IdentifierKind.CONTAINER_NUMBER, "MSKU9070323")}


def test_persons_match_by_name_and_birth_date_but_only_as_a_digest():
    seizure = realistic_seizure()
    person = seizure.payload.persons[0]  # type: ignore[union-attr]
    wanted = dataclasses.replace(
        person,
        family_name="QUANDRY",
        given_names="testa  imagine",
        category=DataSubjectCategory.SUSPECT,
    )
    alert = dataclasses.replace(_alert_on(IdentifierKind.OTHER, "x").payload, persons=(wanted,))
    assert isinstance(alert, PoliceAlert)
    common = alert_keys(alert, PERSONS) & customs_keys(seizure, PERSONS)
    (key,) = [k for k in common if k.kind is IdentifierKind.PERSON]
    assert "QUANDRY" not in key.identifier.upper()
    assert len(key.identifier) == 32
    assert wanted.date_of_birth is not None
    other = dataclasses.replace(wanted, date_of_birth=wanted.date_of_birth.replace(day=28))
    moved = dataclasses.replace(alert, persons=(other,))
    assert not alert_keys(moved, PERSONS) & customs_keys(seizure, PERSONS)
    # Keyed: without the deployment's secret, a guess of name and birth date tells nothing.
    guesser = PersonKeys(b"someone else's key, not ours....")
    assert guesser(wanted) != PERSONS(wanted)
    assert guesser(wanted) is not None


def test_a_hit_is_reported_by_liaison_under_the_strictest_handling_of_both():
    seizure = realistic_seizure()
    alert = _alert_on(IdentifierKind.IMO_NUMBER, "9321483")
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    hit = make_hit(seizure, alert, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    assert hit == make_hit(seizure, alert, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    assert hit.envelope.source_system is SourceSystem.LIAISON
    assert hit.envelope.handling == alert.envelope.handling  # the same on both sides here
    assert hit.envelope.handling == strictest(seizure.envelope.handling, alert.envelope.handling)
    assert isinstance(hit.payload, WatchlistHit)
    assert hit.payload.rule == "exact-imo-number"
    assert hit.payload.customs_event_id == seizure.envelope.event_id


def test_generated_matches_are_found_in_both_directions():
    watchlist: dict[WatchKey, list[str]] = defaultdict(list)
    seen: dict[WatchKey, list[str]] = defaultdict(list)
    found: dict[Label, int] = defaultdict(int)
    made: dict[Label, int] = defaultdict(int)
    for record in TrafficGenerator(seed=9).take(5000):
        event = record.event
        if event is None:
            continue
        made[record.label] += 1
        if isinstance(event.payload, PoliceAlert):
            keys = alert_keys(event.payload, PERSONS)
            if any(seen.get(k) for k in keys):
                found[record.label] += 1
            for key in keys:
                watchlist[key].append(str(event.envelope.event_id))
        else:
            keys = customs_keys(event, PERSONS)
            if any(watchlist.get(k) for k in keys):
                found[record.label] += 1
            for key in keys:
                seen[key].append(str(event.envelope.event_id))
    assert made[Label.WATCHLIST_SEIZURE] > 0
    # Every seizure made to carry a watched identifier, and every alert made on a
    # seized one, is found; the replays and amendments of those are found again.
    assert found[Label.WATCHLIST_SEIZURE] == made[Label.WATCHLIST_SEIZURE]
    assert found[Label.ALERT_ON_SEEN] == made[Label.ALERT_ON_SEEN]
    # Ordinary reports almost never collide by chance.
    assert found[Label.SEIZURE] <= made[Label.SEIZURE] * 0.01


def _at(event, moment, **envelope):
    return dataclasses.replace(
        event, envelope=dataclasses.replace(event.envelope, ingest_time=moment, **envelope)
    )


def _codec():
    """A stand-in for the Avro codec: events kept by id, the id as the bytes."""
    kept = {}

    def encode(event):
        kept[str(event.envelope.event_id)] = event
        return str(event.envelope.event_id).encode()

    def decode(data):
        return kept[data.decode()]

    return encode, decode


_SHARED_CODEC = _codec()  # for _probe: every event it saw stays decodable


def _both_orders(customs, alert, window):
    """The hits of the pair when the customs record comes first, and when the alert does."""
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    encode, decode = _codec()

    hits = []
    for first, second in ((customs, alert), (alert, customs)):
        sides: dict[bool, Entries] = {True: {}, False: {}}
        found = []
        for probe in (first, second):
            is_alert = isinstance(probe.payload, PoliceAlert)
            other = sides[not is_alert]
            after, made = join(
                probe,
                key,
                sides[is_alert],
                functools.partial(dict, other),
                window,
                encode,
                decode,
                persons=PERSONS,
            )
            sides[is_alert] = after
            payloads = [h.payload for h in made if isinstance(h.payload, WatchlistHit)]
            assert len(payloads) == len(made)
            found += [(p.customs_event_id, p.alert_event_id, p.direction) for p in payloads]
        hits.append(found)
    return hits


def test_a_pair_matches_by_event_time_whichever_the_stage_sees_first():
    window = timedelta(days=30)
    seizure = realistic_seizure()
    t0 = seizure.envelope.ingest_time
    alert = _alert_on(IdentifierKind.IMO_NUMBER, "9321483")
    alert = dataclasses.replace(
        alert,
        envelope=dataclasses.replace(
            alert.envelope,
            event_id=uuid.uuid4(),
            source_system=SourceSystem.POLICE,
            source_record_id="DE-SMV-1",
        ),
    )
    ids = (seizure.envelope.event_id, alert.envelope.event_id)
    found_by_seizure = (*ids, MatchDirection.SEIZURE_MATCHED_ALERT)
    found_by_alert = (*ids, MatchDirection.ALERT_MATCHED_SEIZURE)
    cases = {
        # An alert standing for a year when the seizure happens: a hit, the seizure's find.
        "alert long before": (
            _at(seizure, t0),
            _at(alert, t0 - timedelta(days=365)),
            [found_by_seizure],
        ),
        # An alert raised within the window after the seizure: the look-back finds it.
        "alert soon after": (
            _at(seizure, t0),
            _at(alert, t0 + timedelta(days=29)),
            [found_by_alert],
        ),
        # An alert raised after the window: no hit, in either order.
        "alert too late": (_at(seizure, t0), _at(alert, t0 + timedelta(days=31)), []),
    }
    for name, (customs, on_watch, expected) in cases.items():
        customs_first, alert_first = _both_orders(customs, on_watch, window)
        assert customs_first == alert_first == expected, name


def test_a_hit_is_named_by_the_two_records_not_by_their_versions():
    seizure = realistic_seizure()
    alert = _alert_on(IdentifierKind.IMO_NUMBER, "9321483")
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    amended = dataclasses.replace(
        alert, envelope=dataclasses.replace(alert.envelope, event_id=uuid.uuid4(), version=2)
    )
    other = dataclasses.replace(
        alert, envelope=dataclasses.replace(alert.envelope, source_record_id="DE-SMV-2")
    )
    first = make_hit(seizure, alert, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    again = make_hit(seizure, amended, key, MatchDirection.ALERT_MATCHED_SEIZURE, PERSONS)
    assert again.envelope.event_id == first.envelope.event_id
    assert isinstance(again.payload, WatchlistHit)
    assert again.payload.alert_event_id == amended.envelope.event_id  # which version met
    elsewhere = make_hit(seizure, other, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    assert elsewhere.envelope.event_id != first.envelope.event_id


def _probe(event, sides, key, window=timedelta(days=30)):
    """One record through the join: its side's entries after it, and the hits it made
    (each record held as long as the default policy lets it be)."""
    encode, decode = _SHARED_CODEC
    is_alert = isinstance(event.payload, PoliceAlert)
    after, made = join(
        event,
        key,
        sides[is_alert],
        functools.partial(dict, sides[not is_alert]),
        window,
        encode,
        decode,
        persons=PERSONS,
        held_until=functools.partial(keep_until, policy=POLICY),
    )
    return {**sides, is_alert: after}, made


def _erasure_of(event, moment):
    return _at(
        event,
        moment,
        operation=Operation.ERASURE,
        version=event.envelope.version + 1,
        event_id=uuid.uuid4(),
    )


def test_erasing_either_record_erases_the_hit_it_made():
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    seizure = realistic_seizure()
    t0 = seizure.envelope.ingest_time
    alert = _at(
        _alert_on(IdentifierKind.IMO_NUMBER, "9321483"),
        t0 - timedelta(days=3),
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id="DE-SMV-1",
    )

    start: dict[bool, Entries] = {True: {}, False: {}}
    sides, _ = _probe(alert, start, key)
    sides, (hit,) = _probe(seizure, sides, key)
    later = t0 + timedelta(days=1)
    for erased in (seizure, alert):
        _, made = _probe(_erasure_of(erased, later), sides, key)
        (erasure,) = made
        assert erasure.envelope.operation is Operation.ERASURE
        assert erasure.envelope.source_record_id == hit.envelope.source_record_id
        assert erasure.envelope.version == hit.envelope.version + 1
        assert erasure.envelope.event_id != hit.envelope.event_id
        assert erasure.envelope.ingest_time == later
        assert erasure.payload == hit.payload  # the same hit, so its recipients are found
        assert erasure.enrichment == hit.enrichment
    # A record erased before it made any hit, or never seen, erases nothing.
    lone = _at(seizure, t0, source_record_id="NL-OTHER-1", event_id=uuid.uuid4())
    assert _probe(_erasure_of(lone, later), start, key)[1] == []
    assert _probe(_erasure_of(lone, later), sides, key)[1] == []
    # The alert gone first, the seizure's erasure has no hit left to erase.
    sides_without_alert, (gone,) = _probe(_erasure_of(alert, later), sides, key)
    assert gone.envelope.operation is Operation.ERASURE
    assert _probe(_erasure_of(seizure, later), sides_without_alert, key)[1] == []


@given(st.integers(-5, 5), st.integers(-5, 5), st.booleans())
def test_an_alert_stops_matching_after_the_day_it_is_valid_until(
    expires_in, raised_in, alert_first
):
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    seizure = realistic_seizure()
    t0 = seizure.envelope.ingest_time
    base = _alert_on(IdentifierKind.IMO_NUMBER, "9321483")
    assert isinstance(base.payload, PoliceAlert)
    valid_until = (t0 + timedelta(days=expires_in)).date()
    alert = _at(
        dataclasses.replace(
            base, payload=dataclasses.replace(base.payload, valid_until=valid_until)
        ),
        t0 + timedelta(days=raised_in),
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id="DE-SMV-9",
    )
    first, second = (alert, seizure) if alert_first else (seizure, alert)

    sides, _ = _probe(first, {True: {}, False: {}}, key)
    _, made = _probe(second, sides, key)
    met_at = max(t0, alert.envelope.ingest_time)  # the match is made when the later one comes
    assert bool(made) == (met_at.date() <= valid_until)


@given(st.integers(-5, 5), st.integers(-5, 5), st.booleans(), st.booleans())
def test_a_record_past_its_retention_matches_nothing_in_either_order(
    retained_for, raised_in, alert_first, alert_retained
):
    """Liaison may not use what it may no longer hold: a pair meets only while both records
    are within their retention (their provider's retention_until here)."""
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    seizure = realistic_seizure()
    t0 = seizure.envelope.ingest_time
    alert = _at(
        _alert_on(IdentifierKind.IMO_NUMBER, "9321483"),
        t0 + timedelta(days=raised_in),
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id="DE-RET-3",
    )
    held = (min(t0, alert.envelope.ingest_time) + timedelta(days=retained_for)).date()
    limited, other = (alert, seizure) if alert_retained else (seizure, alert)
    handling = dataclasses.replace(limited.envelope.handling, retention_until=held)
    limited = _at(limited, limited.envelope.ingest_time, handling=handling)
    alert, seizure = (limited, other) if alert_retained else (other, limited)
    first, second = (alert, seizure) if alert_first else (seizure, alert)

    sides, _ = _probe(first, {True: {}, False: {}}, key)
    sides, made = _probe(second, sides, key)
    met_at = max(t0, alert.envelope.ingest_time)
    assert bool(made) == (met_at.date() <= held)
    # A record that came in already past its retention is not kept to match later ones.
    kept = record_key(limited) in sides[alert_retained]
    assert kept == (held >= limited.envelope.ingest_time.date())


@given(st.booleans())
def test_a_stolen_travel_document_matches_the_person_carrying_it_in_both_directions(alert_first):
    seizure = realistic_seizure()
    assert isinstance(seizure.payload, Seizure)
    (person,) = seizure.payload.persons
    carrying = dataclasses.replace(
        person, document_type=DocumentType.PASSPORT, document_number="p 123-4567"
    )
    customs = dataclasses.replace(
        seizure, payload=dataclasses.replace(seizure.payload, persons=(carrying,))
    )
    base = _alert_on(IdentifierKind.TRAVEL_DOCUMENT, "P1234567")
    t0 = customs.envelope.ingest_time
    alert = _at(
        base,
        t0 + timedelta(hours=-2 if alert_first else 2),
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id="SLTD-1",
    )
    assert isinstance(alert.payload, PoliceAlert)
    common = alert_keys(alert.payload, PERSONS) & customs_keys(customs, PERSONS)
    (key,) = [k for k in common if k.kind is IdentifierKind.TRAVEL_DOCUMENT]
    assert "1234567" not in key.identifier  # a document number is never a key in the clear
    encode, decode = _codec()
    first, second = (alert, customs) if alert_first else (customs, alert)
    sides: dict[bool, Entries] = {True: {}, False: {}}
    for event in (first, second):
        is_alert = isinstance(event.payload, PoliceAlert)
        after, made = join(
            event,
            key,
            sides[is_alert],
            functools.partial(dict, sides[not is_alert]),
            timedelta(days=30),
            encode,
            decode,
            persons=PERSONS,
        )
        sides[is_alert] = after
    (hit,) = made
    assert isinstance(hit.payload, WatchlistHit)
    assert hit.payload.matched_kind is IdentifierKind.TRAVEL_DOCUMENT
    assert hit.envelope.data_subject_categories == (person.category,)


def _carrying(event, kind: IdentifierKind, identifier: str, in_cis_item: bool):
    """``event`` (a seizure) made to carry ``identifier``: on the seizure, or on an item of
    a CIS+ record made from it."""
    seizure = event.payload
    assert isinstance(seizure, Seizure)
    firearm = kind is IdentifierKind.FIREARM_SERIAL
    serials, object_ids = ((identifier,), ()) if firearm else ((), (identifier,))
    if not in_cis_item:
        payload = dataclasses.replace(seizure, firearm_serials=serials, object_ids=object_ids)
        return dataclasses.replace(event, payload=payload)
    item = CisItem(
        description=seizure.commodity_description,
        commodity_area=seizure.commodity_area,
        firearm_serials=serials,
        object_ids=object_ids,
    )
    record = CisRecord(
        case_reference="CIS-NL-2026-10001",
        category=CisCategory.GOODS_DETAINED_SEIZED_CONFISCATED,
        suggested_action=SuggestedAction.SPECIFIC_CHECK,
        legal_framework=CisLegalFramework.REGULATION_515_97,
        items=(item,),
    )
    envelope = dataclasses.replace(event.envelope, source_system=SourceSystem.CIS_PLUS)
    return dataclasses.replace(event, envelope=envelope, payload=record)


@given(
    st.sampled_from(
        [IdentifierKind.FIREARM_SERIAL, IdentifierKind.WORK_OF_ART_ID, IdentifierKind.OBJECT_ID]
    ),
    st.from_regex(r"[A-Z0-9]{4,12}", fullmatch=True),
    st.booleans(),
    st.booleans(),
)
def test_firearm_serials_and_object_ids_on_customs_records_match_alerts_in_both_directions(
    kind, identifier, in_cis_item, alert_first
):
    # What a police alert on a firearm or a work of art watches for, a customs record can
    # now carry, on a seizure or on a CIS+ item; written by the officer with other spacing.
    written = "-".join(identifier[i : i + 3] for i in range(0, len(identifier), 3)).lower()
    customs = _carrying(realistic_seizure(), kind, written, in_cis_item)
    base = _alert_on(kind, identifier)
    t0 = customs.envelope.ingest_time
    alert = _at(
        base,
        t0 + timedelta(hours=-2 if alert_first else 2),
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id="ALERT-1",
    )
    assert isinstance(alert.payload, PoliceAlert)
    key = WatchKey(kind, identifier)
    assert key in alert_keys(alert.payload, PERSONS) & customs_keys(customs, PERSONS)
    first, second = (alert, customs) if alert_first else (customs, alert)
    sides, _ = _probe(first, {True: {}, False: {}}, key)
    _, made = _probe(second, sides, key)
    (hit,) = made
    assert isinstance(hit.payload, WatchlistHit)
    assert hit.payload.matched_kind is kind
    assert hit.payload.customs_event_id == customs.envelope.event_id


@given(st.integers(31, 700), st.booleans(), st.booleans())
def test_a_hit_is_erased_with_either_record_whatever_the_age_of_the_pair(
    age_days, erase_alert, alert_first
):
    # The pair is long gone from the join's tables (a customs record is kept for the watch
    # window, an alert while valid); the memory of the hit is what finds it.
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    seizure = realistic_seizure()
    t0 = seizure.envelope.ingest_time
    alert = _at(
        _alert_on(IdentifierKind.IMO_NUMBER, "9321483"),
        t0 + timedelta(hours=-1 if alert_first else 1),
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id="DE-SMV-31",
    )
    first, second = (alert, seizure) if alert_first else (seizure, alert)
    sides, _ = _probe(first, {True: {}, False: {}}, key)
    candidates = sides[not isinstance(second.payload, PoliceAlert)]
    _, made = _probe(second, sides, key)
    (hit,) = made
    encode, decode = _SHARED_CODEC
    until = (t0 + timedelta(days=730)).date()
    memory = remember({}, second, list(candidates), made, encode, lambda _: until)

    gone = _erasure_of(alert if erase_alert else seizure, t0 + timedelta(days=age_days))
    swept: dict[bool, Entries] = {True: {}, False: {}}
    assert _probe(gone, swept, key)[1] == []  # the join alone no longer finds the pair
    after, erased = recall(load_memory(dump_memory(memory)), gone, [], decode)
    (erasure,) = erased
    assert erasure.envelope.operation is Operation.ERASURE
    assert erasure.envelope.source_record_id == hit.envelope.source_record_id
    assert erasure.envelope.version == 2
    assert after == {}
    # Nothing of the hit is erased twice: what the join already erased is not recalled.
    assert recall(memory, gone, [erasure], decode)[1] == []
    # An erasure of an unrelated record leaves the memory as it was.
    other = _erasure_of(_at(seizure, t0, source_record_id="NL-OTHER-1"), t0)
    assert recall(memory, other, [], decode) == (memory, [])
