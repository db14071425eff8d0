"""LED Art. 7(3) without over-disclosure: a later version of a record reaches every earlier
recipient, in full where the policy still allows it and otherwise as a restriction notice
that carries nothing of the content; nobody else hears of it that way."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.model.common import Event, Operation
from liaison.model.exchange import NoticeAction, RestrictionNotice
from liaison.policy import load_policy
from pipelines.route.audit import audit_record
from pipelines.route.decide import NOTICE_HANDLING, keep_until, route_decision
from stack.synthetic.generator import TrafficGenerator
from tests.strategies import handlings

POLICY = load_policy()
UTC_NOW = datetime(2026, 12, 4, tzinfo=UTC)
EVENTS = [
    r.event
    for r in TrafficGenerator(seed=23).take(400)
    if r.event is not None and r.event.envelope.version == 1
][:120]


def _version(event: Event, version: int, operation: Operation, handling) -> Event:
    envelope = dataclasses.replace(
        event.envelope, version=version, operation=operation, handling=handling
    )
    return dataclasses.replace(event, envelope=envelope)


@settings(max_examples=300)
@given(
    st.sampled_from(EVENTS),
    handlings(),
    handlings(),
    st.sampled_from(Operation),
)
def test_a_later_version_reaches_earlier_recipients_without_over_disclosing(
    event, first_terms, later_terms, operation
):
    first = _version(event, 1, Operation.UPSERT, first_terms)
    earlier = route_decision(first, POLICY).recipients
    later = _version(event, 2, operation, later_terms)
    decision = route_decision(later, POLICY, earlier)
    entitled = route_decision(later, POLICY).recipients  # what the rules alone allow

    got = [d.partner.id for d in decision.deliveries]
    assert len(got) == len(set(got))  # one form each
    assert earlier <= set(got)  # every earlier recipient hears of the new version
    for delivery in decision.deliveries:
        payload = delivery.event.payload
        if isinstance(payload, RestrictionNotice):
            assert delivery.partner.id in earlier  # only those who hold a copy
            assert delivery.partner.id not in entitled
            # Erase for an erasure, and for a version already past its retention date.
            past = later.envelope.ingest_time.date() > keep_until(later, POLICY)
            erase = operation is Operation.ERASURE or past
            assert (payload.action is NoticeAction.ERASE) == erase
            envelope = delivery.event.envelope
            assert envelope.handling == NOTICE_HANDLING
            assert envelope.data_subject_categories == ()
            assert envelope.evaluation is None
            assert delivery.event.enrichment is None
            assert (envelope.source_record_id, envelope.version) == (
                later.envelope.source_record_id,
                2,
            )
        else:
            assert delivery.partner.id in entitled  # the full form only where allowed
            assert delivery.event.envelope.handling == later_terms


@settings(max_examples=200)
@given(st.sampled_from(EVENTS), handlings(), handlings(), st.sampled_from(Operation))
def test_each_disclosure_is_audited_under_the_id_the_partner_received(
    event, first_terms, later_terms, operation
):
    # An auditor looks a partner's record up by its event id: a restriction notice has
    # its own, and its audit must carry that id while naming the record it is about.
    first = _version(event, 1, Operation.UPSERT, first_terms)
    later = _version(event, 2, operation, later_terms)
    decision = route_decision(later, POLICY, route_decision(first, POLICY).recipients)
    audits = [
        audit_record(later, d, channel=d.partner.topic, decided_at=UTC_NOW, disclosed_by="t")
        for d in decision.deliveries
    ]
    for delivery, audit in zip(decision.deliveries, audits, strict=True):
        assert audit.event_id == delivery.event.envelope.event_id
        assert (audit.source_record_id, audit.event_version) == (
            later.envelope.source_record_id,
            2,
        )
        assert audit.rule_id == delivery.rule_id
    assert len({a.audit_id for a in audits}) == len(audits)
