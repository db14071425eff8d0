"""Retention enforced: a record is held until its provider's retention date, or the policy's
maximum for its kind; one that comes in already past it reaches nobody new, and once the day
has passed every partner that received it is told to erase it, with nothing of its content."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.model.common import Event, Operation
from liaison.model.exchange import NoticeAction, NoticeReason, RestrictionNotice
from liaison.policy import PayloadKind, Sender, load_policy
from pipelines.route.decide import NOTICE_HANDLING, keep_until, payload_kind, route_decision
from pipelines.route.retention import Held, held_after, retention_decision, review_decision
from pipelines.state import dump_held, load_held
from stack.synthetic.generator import TrafficGenerator
from tests.strategies import PARTNERS, handlings

POLICY = load_policy()
EVENTS = [
    r.event
    for r in TrafficGenerator(seed=31).take(400)
    if r.event is not None and r.event.envelope.version == 1
][:120]


def _with(event: Event, handling, ingest: datetime, operation=Operation.UPSERT, version=1):
    envelope = dataclasses.replace(
        event.envelope,
        handling=handling,
        ingest_time=ingest,
        operation=operation,
        version=version,
    )
    return dataclasses.replace(event, envelope=envelope)


_INGEST = st.datetimes(datetime(2026, 1, 1), datetime(2031, 1, 1), timezones=st.just(UTC))


@given(st.sampled_from(EVENTS), handlings(), _INGEST)
def test_a_record_is_held_until_its_own_date_or_the_policys_maximum_for_its_kind(
    event, handling, ingest
):
    event = _with(event, handling, ingest)
    last_day = keep_until(event, POLICY)
    if handling.retention_until is not None:
        assert last_day == handling.retention_until
    else:
        days = {PayloadKind.WATCHLIST_HIT: 730}.get(payload_kind(event), 1825)
        assert last_day == ingest.date() + timedelta(days=days)


def test_the_policy_sets_the_maximum_per_kind():
    shorter = POLICY.model_copy(update={"max_retention_days": {PayloadKind.SEIZURE: 10}})
    event = next(e for e in EVENTS if payload_kind(e) is PayloadKind.SEIZURE)
    event = _with(
        event,
        dataclasses.replace(event.envelope.handling, retention_until=None),
        (datetime(2026, 3, 1, tzinfo=UTC)),
    )
    assert keep_until(event, shorter) == date(2026, 3, 11)
    assert keep_until(event, POLICY) == date(2031, 2, 28)


@settings(max_examples=200)
@given(
    st.sampled_from(EVENTS),
    handlings(),
    st.integers(1, 2000),
    st.sampled_from([Operation.UPSERT, Operation.CORRECTION]),
    st.sets(st.sampled_from(PARTNERS)),
)
def test_a_record_already_past_its_retention_goes_to_nobody_and_holders_are_told_to_erase(
    event, handling, days_late, operation, earlier
):
    handling = dataclasses.replace(handling, retention_until=date(2026, 6, 1))
    late = datetime(2026, 6, 1, 12, tzinfo=UTC) + timedelta(days=days_late)
    decision = route_decision(
        _with(event, handling, late, operation, 2), POLICY, frozenset(earlier)
    )
    assert decision.recipients == frozenset(earlier)  # nobody new
    for delivery in decision.deliveries:
        payload = delivery.event.payload
        assert isinstance(payload, RestrictionNotice)  # nothing of the content
        assert (payload.action, payload.reason) == (NoticeAction.ERASE, NoticeReason.RETENTION)
        assert delivery.event.envelope.handling == NOTICE_HANDLING
        assert delivery.event.enrichment is None
    refused = {r.partner_id for r in decision.refusals}
    assert refused == {p.id for p in POLICY.partners}
    # The same record on its last day is routed as usual: as if it had no date at all.
    on_time = _with(event, handling, datetime(2026, 6, 1, 23, tzinfo=UTC), operation, 2)
    undated = _with(
        on_time, dataclasses.replace(handling, retention_until=None), on_time.envelope.ingest_time
    )
    assert route_decision(on_time, POLICY).recipients == route_decision(undated, POLICY).recipients


@settings(max_examples=200)
@given(st.sampled_from(EVENTS), handlings(), _INGEST, st.integers(-30, 30))
def test_once_its_last_day_has_passed_every_recipient_is_told_to_erase_the_record(
    event, handling, ingest, offset
):
    event = _with(event, handling, ingest)
    decision = route_decision(event, POLICY)
    held = held_after(Held(), event, decision, POLICY)
    assert held.recipients == decision.recipients
    assert load_held(dump_held(held)) == held  # as its changelog keeps it
    if not decision.recipients:
        return
    last_day = keep_until(event, POLICY)
    today = last_day + timedelta(days=offset)
    assert held.expired(today) == (today > last_day)
    at = datetime.combine(today, datetime.min.time(), UTC)
    ending = retention_decision(held, POLICY, at)
    assert ending.recipients == decision.recipients
    for delivery in ending.deliveries:
        notice = delivery.event
        assert isinstance(notice.payload, RestrictionNotice)
        assert notice.payload.action is NoticeAction.ERASE
        assert notice.payload.reason is NoticeReason.RETENTION
        assert notice.envelope.operation is Operation.ERASURE
        assert notice.envelope.handling == NOTICE_HANDLING
        assert notice.envelope.data_subject_categories == ()
        assert (notice.envelope.source_system, notice.envelope.source_record_id) == (
            event.envelope.source_system,
            event.envelope.source_record_id,
        )
        assert notice.envelope.version == event.envelope.version
    # A sweep repeated after a crash sends recognisably the same notice.
    again = retention_decision(held, POLICY, at + timedelta(hours=5))
    assert {d.event.envelope.event_id for d in again.deliveries} == {
        d.event.envelope.event_id for d in ending.deliveries
    }


def test_an_erasure_keeps_the_last_day_of_the_version_it_erases_and_old_state_still_loads():
    event = next(e for e in EVENTS if route_decision(e, POLICY).recipients)
    first = route_decision(event, POLICY)
    held = held_after(Held(), event, first, POLICY)
    later = datetime(2027, 1, 1, tzinfo=UTC)
    erasure = _with(event, event.envelope.handling, later, Operation.ERASURE, 2)
    after = held_after(held, erasure, route_decision(erasure, POLICY, held.recipients), POLICY)
    assert after.keep_until == held.keep_until
    # State written before retention was kept: recipients alone, never swept.
    old = load_held(b'["EUROPOL","INTERPOL"]')
    assert old.recipients == {"EUROPOL", "INTERPOL"}
    assert not old.expired(date(2100, 1, 1))


@settings(max_examples=100)
@given(st.sampled_from(EVENTS), st.integers(-60, 60), st.booleans())
def test_the_owner_is_reminded_once_before_the_review_date_through_its_notices_partner(
    event, offset, has_partner
):
    review = date(2027, 6, 1)
    handling = dataclasses.replace(
        event.envelope.handling, review_date=review, retention_until=None
    )
    first = _with(event, handling, datetime(2026, 12, 1, tzinfo=UTC))
    sent = dataclasses.replace(
        first, envelope=dataclasses.replace(first.envelope, submitted_by="NL-CUSTOMS")
    )
    senders = [{"id": "NL-CUSTOMS", "systems": ["CEN", "NCEN", "CIS_PLUS"], "countries": ["*"]}]
    if has_partner:
        senders[0]["notices_to"] = "BE-CUSTOMS"
    policy = POLICY.model_copy(update={"senders": tuple(Sender.model_validate(s) for s in senders)})
    held = held_after(Held(), sent, route_decision(sent, policy), policy)
    if not held.recipients:
        return
    today = review - timedelta(days=30) + timedelta(days=offset)
    assert held.owner == "NL-CUSTOMS"
    assert held.review_due(today, policy) == (offset >= 0)
    if offset < 0:
        return
    at = datetime.combine(today, datetime.min.time(), UTC)
    reminded = review_decision(held, policy, at)
    if has_partner:
        (delivery,) = reminded.deliveries
        assert delivery.partner.id == "BE-CUSTOMS"
        notice = delivery.event
        assert isinstance(notice.payload, RestrictionNotice)
        assert (notice.payload.action, notice.payload.reason) == (
            NoticeAction.REVIEW,
            NoticeReason.REVIEW_DUE,
        )
        assert notice.envelope.source_record_id == sent.envelope.source_record_id
        assert notice.envelope.handling == NOTICE_HANDLING
    else:  # no channel to the owner: an operator passes it on
        assert not reminded.deliveries
        assert [r.partner_id for r in reminded.refusals] == ["NL-CUSTOMS"]
    # Once reminded of this date, not again; a new version with a later date is reminded anew.
    after = dataclasses.replace(held, reminded_for=held.review_date)
    assert load_held(dump_held(after)) == after
    assert not after.review_due(today + timedelta(days=5), policy)
    later = dataclasses.replace(handling, review_date=date(2028, 6, 1))
    amended = _with(sent, later, datetime(2027, 5, 1, tzinfo=UTC), Operation.UPSERT, 2)
    renewed = held_after(after, amended, route_decision(amended, policy, held.recipients), policy)
    assert renewed.owner == "NL-CUSTOMS"
    assert not renewed.review_due(today, policy)
    assert renewed.review_due(date(2028, 5, 15), policy)


_DAYS = st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2028, 12, 31)))


@settings(max_examples=300)
@given(_DAYS, _DAYS, _DAYS, st.dates(date(2025, 6, 1), date(2029, 6, 1)), st.booleans())
def test_a_held_record_is_due_from_the_day_its_sweep_is_told(
    keep, review, reminded, today, reminded_of_this
):
    # The sweep only looks at a record from the day due_from names: never later than
    # the day it is due, and it is due every day from then (nothing is missed).
    held = Held(
        frozenset({"EUROPOL"}),
        keep_until=keep,
        review_date=review,
        reminded_for=review if reminded_of_this else reminded,
    )
    first = held.due_from(POLICY)
    if first is None:
        assert not held.due(today, POLICY)
    else:
        assert held.due(today, POLICY) == (today >= first)
