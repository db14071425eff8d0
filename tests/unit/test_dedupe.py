import dataclasses
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liaison.handling import strictest
from liaison.identity import record_key
from liaison.model.common import Event, Operation, SourceSystem
from liaison.model.customs import CisRecord, Quantity, QuantityUnit, Seizure
from pipelines.dedupe.decide import (
    Candidate,
    Outcome,
    RecordState,
    decide_cross_source,
    decide_version,
    expire,
)
from pipelines.dedupe.fingerprint import (
    BaseQuantity,
    SeizureView,
    base_quantity,
    quantities_agree,
    seizure_view,
)
from pipelines.state import dump_candidates, load_candidates
from stack.synthetic.generator import Label, TrafficGenerator
from tests.samples import realistic_seizure
from tests.strategies import handlings

WINDOW = timedelta(days=7)


def _version(event: Event, version: int, operation: Operation = Operation.UPSERT) -> Event:
    return dataclasses.replace(
        event, envelope=dataclasses.replace(event.envelope, version=version, operation=operation)
    )


def test_first_version_is_new_then_replay_amendment_stale():
    v1 = _version(realistic_seizure(), 1)
    decision, state = decide_version(None, v1)
    assert decision.outcome is Outcome.NEW
    assert decide_version(state, v1)[0].outcome is Outcome.REPLAY
    decision, state3 = decide_version(state, _version(v1, 3, Operation.CORRECTION))
    assert decision.outcome is Outcome.AMENDMENT
    assert state3 is not None
    assert state3.version == 3
    late, after_late = decide_version(state3, _version(v1, 2))
    assert late.outcome is Outcome.STALE
    assert after_late is not None
    assert after_late.version == 3
    # The same late version again, and the first one resent: exact replays.
    assert decide_version(after_late, _version(v1, 2))[0].outcome is Outcome.REPLAY
    assert decide_version(after_late, v1)[0].outcome is Outcome.REPLAY
    erased, _ = decide_version(state3, _version(v1, 4, Operation.ERASURE))
    assert erased.outcome is Outcome.AMENDMENT


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        (
            Quantity(amount=1519.8, unit=QuantityUnit.KGM),
            Quantity(amount=1519812.0, unit=QuantityUnit.GRM),
            True,
        ),
        (
            Quantity(amount=100.0, unit=QuantityUnit.KGM),
            Quantity(amount=100.9, unit=QuantityUnit.KGM),
            True,
        ),
        (
            Quantity(amount=100.0, unit=QuantityUnit.KGM),
            Quantity(amount=102.0, unit=QuantityUnit.KGM),
            False,
        ),
        (
            Quantity(amount=0.05, unit=QuantityUnit.KGM),
            Quantity(amount=140.0, unit=QuantityUnit.GRM),
            True,
        ),
        (
            Quantity(amount=100.0, unit=QuantityUnit.KGM),
            Quantity(amount=100.0, unit=QuantityUnit.LTR),
            False,
        ),
    ],
)
def test_quantities_are_compared_in_base_units_within_tolerance(a, b, agree):
    qa, qb = base_quantity(a), base_quantity(b)
    assert qa is not None
    assert qb is not None
    assert quantities_agree(qa, qb) is agree


def test_other_units_do_not_convert():
    assert base_quantity(Quantity(amount=3.0, unit=QuantityUnit.OTHER)) is None


def _view(event: Event) -> SeizureView:
    view = seizure_view(event)
    assert view is not None
    return view


def _pair():
    """A CIS+ seizure record and its CEN copy, from the generator."""
    records = TrafficGenerator(seed=2).take(600)
    copy = next(r.event for r in records if r.label is Label.CROSS_SOURCE_COPY)
    assert copy is not None
    assert isinstance(copy.payload, Seizure)
    original = next(
        r.event
        for r in records
        if r.event is not None
        and isinstance(r.event.payload, CisRecord)
        and r.event.payload.conveyance == copy.payload.conveyance
    )
    return original, copy


def test_the_cen_copy_of_a_cis_seizure_has_the_same_fingerprint():
    original, copy = _pair()
    a, b = seizure_view(original), seizure_view(copy)
    assert a is not None
    assert b is not None
    assert a.key == b.key
    assert a.source is SourceSystem.CIS_PLUS
    assert b.source is SourceSystem.CEN


def test_the_later_report_is_merged_into_the_first_and_not_sent_on():
    original, copy = _pair()
    decision, candidates, _ = decide_cross_source(original, _view(original), (), WINDOW)
    assert decision.outcome is Outcome.NEW
    decision, candidates, _ = decide_cross_source(copy, _view(copy), candidates, WINDOW)
    assert decision.outcome is Outcome.CROSS_SOURCE_DUPLICATE
    assert decision.duplicate_of == str(original.envelope.event_id)
    first = next(c for c in candidates if c.record_key == record_key(original))
    assert first.merged_event_ids == (str(copy.envelope.event_id),)

    # An amendment of the later report is not sent on either ...
    amended_copy = _version(copy, 2)
    decision, _, _ = decide_cross_source(amended_copy, _view(amended_copy), candidates, WINDOW)
    assert decision.outcome is Outcome.CROSS_SOURCE_DUPLICATE
    # ... while one of the first carries the lineage of both.
    amended = _version(original, 2)
    decision, _, sent = decide_cross_source(amended, _view(amended), candidates, WINDOW)
    assert decision.outcome is Outcome.AMENDMENT
    assert sent.envelope.lineage.merged_event_ids == (str(copy.envelope.event_id),)


def test_reports_outside_the_window_or_from_the_same_system_are_not_merged():
    original, copy = _pair()
    _, candidates, _ = decide_cross_source(original, _view(original), (), WINDOW)
    late = dataclasses.replace(
        copy,
        envelope=dataclasses.replace(
            copy.envelope, ingest_time=original.envelope.ingest_time + WINDOW + timedelta(seconds=1)
        ),
    )
    assert decide_cross_source(late, _view(late), candidates, WINDOW)[0].outcome is Outcome.NEW
    same_system = dataclasses.replace(
        original, envelope=dataclasses.replace(original.envelope, source_record_id="another-record")
    )
    decision, _, _ = decide_cross_source(same_system, _view(same_system), candidates, WINDOW)
    assert decision.outcome is Outcome.NEW


def test_expire_keeps_state_within_the_window():
    now = realistic_seizure().envelope.ingest_time
    old = Candidate(SourceSystem.CEN, "CEN:1", "e1", BaseQuantity("mass", 1.0), now - WINDOW * 2)
    fresh = Candidate(SourceSystem.CEN, "CEN:2", "e2", BaseQuantity("mass", 1.0), now)
    assert expire((old, fresh), now, WINDOW) == (fresh,)


def test_generated_traffic_is_sorted_out_as_labelled():
    """Every generated record through both steps: the outcome matches what it is."""
    records = TrafficGenerator(seed=17).take(6000)
    versions: dict[str, RecordState] = {}
    fingerprints: dict[str, tuple[Candidate, ...]] = defaultdict(tuple)
    merged_away: set[str] = set()
    outcomes: dict[Label, set[Outcome]] = defaultdict(set)
    for record in records:
        event = record.event
        if event is None or record.label is Label.INVALID_VALUES:
            continue  # dead-lettered before dedupe
        key = record_key(event)
        decision, state = decide_version(versions.get(key), event)
        if state is not None:
            versions[key] = state
        view = seizure_view(event)
        if decision.outcome.forwarded and view is not None:
            decision, fingerprints[view.key], _ = decide_cross_source(
                event, view, fingerprints[view.key], WINDOW
            )
        if decision.outcome is Outcome.CROSS_SOURCE_DUPLICATE:
            merged_away.add(key)
        outcomes[record.label].add(decision.outcome)

    assert outcomes[Label.REPLAY] == {Outcome.REPLAY}
    assert outcomes[Label.STALE] == {Outcome.STALE}
    assert outcomes[Label.CROSS_SOURCE_COPY] == {Outcome.CROSS_SOURCE_DUPLICATE}
    for label in (
        Label.SEIZURE,
        Label.CIS_RECORD,
        Label.ALERT,
        Label.WATCHLIST_SEIZURE,
        Label.ALERT_ON_SEEN,
    ):
        assert outcomes[label] == {Outcome.NEW}, label
    # Amendments and erasures go on, except those of a report merged into another.
    assert outcomes[Label.AMENDMENT] <= {Outcome.AMENDMENT, Outcome.CROSS_SOURCE_DUPLICATE}
    assert Outcome.AMENDMENT in outcomes[Label.AMENDMENT]
    assert outcomes[Label.ERASURE] <= {Outcome.AMENDMENT, Outcome.CROSS_SOURCE_DUPLICATE}
    assert merged_away


SENDERS = st.sampled_from(["NL-CUSTOMS", "DE-CUSTOMS", None])


@given(SENDERS, SENDERS)
def test_only_the_owner_of_a_record_amends_it(first_sender, later_sender):
    seizure = realistic_seizure()

    def version(number, sender):
        envelope = dataclasses.replace(
            seizure.envelope, version=number, event_id=uuid.uuid4(), submitted_by=sender
        )
        return dataclasses.replace(seizure, envelope=envelope)

    _, state = decide_version(None, version(1, first_sender))
    assert state is not None
    decision, after = decide_version(state, version(2, later_sender))
    if first_sender and later_sender and first_sender != later_sender:
        assert decision.outcome is Outcome.NOT_OWNER
        assert not decision.outcome.forwarded
        assert after == state  # another sender's version changes nothing
    else:
        assert decision.outcome is Outcome.AMENDMENT
        assert after is not None
        assert after.owner == first_sender


def _under(event: Event, handling) -> Event:
    return dataclasses.replace(
        event, envelope=dataclasses.replace(event.envelope, handling=handling)
    )


@given(handlings(), handlings(), handlings())
def test_a_merged_record_is_held_under_the_strictest_conditions_of_its_reports(
    standing_terms, copy_terms, amended_terms
):
    # The report that stands carries, from the merge on, the ids of the other: what it tells
    # is then derived from both, and takes the strictest conditions of both (as a hit does).
    original, copy = _pair()
    original = _under(original, standing_terms)
    _, candidates, _ = decide_cross_source(original, _view(original), (), WINDOW)
    _, candidates, _ = decide_cross_source(
        _under(copy, copy_terms), _view(copy), candidates, WINDOW
    )
    amended = _under(_version(original, 2), amended_terms)
    decision, after, sent = decide_cross_source(amended, _view(amended), candidates, WINDOW)
    assert decision.outcome is Outcome.AMENDMENT
    assert sent.envelope.handling == strictest(amended_terms, copy_terms)
    # Kept in the state as the changelog holds it.
    assert load_candidates(dump_candidates(after)) == after
