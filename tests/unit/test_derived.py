"""Derived data takes the strictest conditions of its inputs (liaison.handling), and a
watchlist hit reaches only partners that may hold both records it tells of."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.handling import CODE_ORDER, TLP_ORDER, strictest, weaker_evaluation
from liaison.model.common import (
    DataSubjectCategory,
    EvaluationCodes,
    Event,
    HandlingConditions,
    InformationAccuracy,
    Person,
    SienaHandlingCode,
    SourceReliability,
    TlpLevel,
)
from liaison.model.customs import Seizure
from liaison.model.exchange import MatchDirection
from liaison.model.police import AlertType, IdentifierKind, PoliceAlert, WatchedItem
from liaison.policy import load_policy
from pipelines.enrich.watchlist import WatchKey, alert_keys, customs_keys, make_hit
from pipelines.route.decide import route_decision
from tests.samples import PERSONS, realistic_seizure
from tests.strategies import handlings

POLICY = load_policy()


evaluations = st.none() | st.builds(
    EvaluationCodes,
    source_reliability=st.sampled_from(SourceReliability),
    information_accuracy=st.sampled_from(InformationAccuracy),
)


@given(handlings(), handlings())
def test_the_strictest_conditions_keep_every_restriction_of_either(a, b):
    both = strictest(a, b)
    assert CODE_ORDER.index(both.handling_code) == max(
        map(CODE_ORDER.index, (a.handling_code, b.handling_code))
    )
    strictest_tlp = max(TLP_ORDER.index(a.tlp), TLP_ORDER.index(b.tlp))
    if a.releasable_to and b.releasable_to and not set(a.releasable_to) & set(b.releasable_to):
        # Named by both, in common none: for no one.
        assert (both.tlp, both.releasable_to) == (TlpLevel.RED, ())
    else:
        assert TLP_ORDER.index(both.tlp) == strictest_tlp
    for side in (a, b):
        if side.releasable_to:  # nobody the provider did not name
            assert set(both.releasable_to) <= set(side.releasable_to)
        for text in (side.restrictions, side.purpose, side.legal_basis):
            assert text is None or text in f"{both.restrictions} {both.purpose} {both.legal_basis}"
        for mine, theirs in (
            (both.review_date, side.review_date),
            (both.retention_until, side.retention_until),
        ):
            assert theirs is None or (mine is not None and mine <= theirs)
    assert strictest(a, b).handling_code == strictest(b, a).handling_code
    assert set(strictest(a, b).releasable_to) == set(strictest(b, a).releasable_to)


@given(evaluations, evaluations)
def test_derived_data_claims_the_weaker_evaluation(a, b):
    weaker = weaker_evaluation(a, b)
    if a is None or b is None:
        assert weaker is None
        return
    assert weaker is not None
    assert weaker.source_reliability.value == max(
        a.source_reliability.value, b.source_reliability.value
    )  # A < B < C < X
    assert weaker.information_accuracy.value == max(
        a.information_accuracy.value, b.information_accuracy.value
    )


def _with(event: Event, handling: HandlingConditions, evaluation=None) -> Event:
    return dataclasses.replace(
        event,
        envelope=dataclasses.replace(event.envelope, handling=handling, evaluation=evaluation),
    )


def _alert(person_category: DataSubjectCategory | None = None) -> Event:
    seizure = realistic_seizure()
    persons: tuple[Person, ...] = ()
    if person_category is not None:
        (person,) = seizure.payload.persons  # type: ignore[union-attr]
        persons = (dataclasses.replace(person, category=person_category),)
    return dataclasses.replace(
        seizure,
        payload=PoliceAlert(
            alert_type=AlertType.NOTICE_BLUE,
            alert_reference="DE-A-1",
            issuing_country="DE",
            issuing_agency="DE police",
            items=(WatchedItem(kind=IdentifierKind.IMO_NUMBER, identifier="9321483"),),
            persons=persons,
        ),
    )


@settings(max_examples=300)
@given(handlings(), handlings(), evaluations, evaluations)
def test_a_hit_reaches_only_partners_that_may_hold_both_records(customs_h, alert_h, ev_c, ev_a):
    customs = _with(realistic_seizure(), customs_h, ev_c)
    alert = _with(_alert(), alert_h, ev_a)
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    hit = make_hit(customs, alert, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    assert hit.envelope.evaluation == weaker_evaluation(ev_c, ev_a)
    for delivery in route_decision(hit, POLICY).deliveries:
        partner = delivery.partner
        for side in (customs_h, alert_h):
            assert side.handling_code in partner.handling_codes
            assert side.tlp in partner.tlp
            if side.releasable_to:  # a provider that named its recipients
                assert partner.id in side.releasable_to


@given(st.sampled_from(DataSubjectCategory), st.sampled_from(DataSubjectCategory))
def test_a_hit_about_a_person_reaches_only_partners_allowed_that_persons_category(
    on_seizure, on_alert
):
    seizure = realistic_seizure()
    assert isinstance(seizure.payload, Seizure)
    (person,) = seizure.payload.persons
    moved = (dataclasses.replace(person, category=on_seizure),)
    customs = dataclasses.replace(
        seizure, payload=dataclasses.replace(seizure.payload, persons=moved)
    )
    open_terms = HandlingConditions(
        handling_code=SienaHandlingCode.H0,
        tlp=TlpLevel.GREEN,
        purpose="drug trafficking",
        legal_basis="Regulation (EC) 515/97",
    )
    customs, alert = _with(customs, open_terms), _with(_alert(on_alert), open_terms)
    assert isinstance(alert.payload, PoliceAlert)
    (key,) = [
        k
        for k in alert_keys(alert.payload, PERSONS) & customs_keys(customs, PERSONS)
        if k.kind is IdentifierKind.PERSON
    ]
    hit = make_hit(customs, alert, key, MatchDirection.ALERT_MATCHED_SEIZURE, PERSONS)
    assert set(hit.envelope.data_subject_categories) == {on_seizure, on_alert}
    decision = route_decision(hit, POLICY)
    for delivery in decision.deliveries:
        assert delivery.partner.personal_data
        assert {on_seizure, on_alert} <= delivery.partner.subject_categories
        # The partner is told whom the hit is about: the categories travel with it.
        assert (
            delivery.event.envelope.data_subject_categories == hit.envelope.data_subject_categories
        )
    # The partners that take hits about anyone still get this one when they may.
    everyone = {p.id for p in POLICY.partners if "watchlist-hit" in {k.value for k in p.payloads}}
    allowed = {
        p.id
        for p in POLICY.partners
        if p.id in everyone and p.personal_data and {on_seizure, on_alert} <= p.subject_categories
    }
    assert decision.recipients == allowed & decision.recipients
    assert "EUROPOL" in decision.recipients  # EUROPOL may receive every category


def _open(code: SienaHandlingCode = SienaHandlingCode.H1) -> HandlingConditions:
    return HandlingConditions(
        handling_code=code,
        restrictions="discreet check: do not approach" if code is SienaHandlingCode.H3 else None,
        tlp=TlpLevel.AMBER,
        purpose="drug trafficking",
        legal_basis="Regulation (EC) 515/97",
    )


def test_both_sides_of_a_hit_hear_of_it():
    # A seizure reported by the Netherlands, an alert issued in Germany, both open.
    customs = _with(realistic_seizure(), _open())
    alert = _with(_alert(), _open())
    alert = dataclasses.replace(
        alert, envelope=dataclasses.replace(alert.envelope, reporting_country="DE")
    )
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    hit = make_hit(customs, alert, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    decision = route_decision(hit, POLICY)
    assert {"NL-POLICE", "DE-BKA"} <= decision.recipients  # the seizing side and the alert's


def test_an_alert_under_h3_is_not_shown_to_the_seizing_side_and_the_refusal_says_why():
    customs = _with(realistic_seizure(), _open())
    alert = _with(_alert(), _open(SienaHandlingCode.H3))
    alert = dataclasses.replace(
        alert, envelope=dataclasses.replace(alert.envelope, reporting_country="DE")
    )
    key = WatchKey(IdentifierKind.IMO_NUMBER, "9321483")
    hit = make_hit(customs, alert, key, MatchDirection.SEIZURE_MATCHED_ALERT, PERSONS)
    decision = route_decision(hit, POLICY)
    assert "NL-POLICE" not in decision.recipients
    assert "DE-BKA" in decision.recipients  # the alert's own side still hears of it
    reasons = {r.partner_id: r.reason for r in decision.refusals}
    assert "H3" in reasons["NL-POLICE"]
    assert "seizing side" in reasons["NL-POLICE"]
