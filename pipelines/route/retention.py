"""The end of a record's retention, at every partner that received it, and the reminder to
its owner that its review date is near.

A record may be held until the last day :func:`pipelines.route.decide.keep_until` gives it:
its provider's ``retention_until``, or the policy's maximum for its kind counted from the day
it came in. Route remembers, per record, who received it, until when it may be held, and
what names it (:class:`Held`: no content, no persons). Once that day has passed in event
time, route's sweep sends each recipient an erasure notice (a ``RestrictionNotice`` with
action ERASE and reason RETENTION), audits each like any disclosure, records the outcome,
and deletes what it held of the record (a tombstone in its changelog).

Before a record's ``review_date`` (the policy's ``review_notice_days`` ahead), the sweep sends
its owner (the sender of its first version) a notice with action REVIEW, through the partner
the policy names for that sender (``notices_to``), once per review date. A record whose owner
has no such partner gets a ``review-due`` outcome for an operator to pass on.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from liaison.model.common import Envelope, Event, Lineage, Operation, SourceSystem
from liaison.model.exchange import NoticeAction, NoticeReason
from liaison.policy import RoutingPolicy
from pipelines.route.decide import (
    NOTICE_HANDLING,
    RETENTION_RULE,
    Delivery,
    Refusal,
    RouteDecision,
    keep_until,
    notice,
)

__all__ = [
    "REVIEW_RULE",
    "Held",
    "RecordName",
    "erasure",
    "held_after",
    "reminder",
    "retention_decision",
    "review_decision",
]

REVIEW_RULE = "review/owner-notice"

_RETENTION_NAMESPACE = uuid.UUID("0c9a4e61-3b7d-5a28-8f14-d25b6e90c3a7")


@dataclass(frozen=True)
class RecordName:
    """What names a record in a notice: its identity and latest version, none of its content."""

    source_system: SourceSystem
    record_id: str
    version: int
    reporting_country: str
    reporting_agency: str
    event_time: datetime
    report_time: datetime


@dataclass(frozen=True)
class Held:
    """What route keeps of a record it disclosed: who received it, and until when they may
    hold it (None for state kept before retention was: never swept)."""

    recipients: frozenset[str] = frozenset()
    keep_until: date | None = None
    name: RecordName | None = None
    owner: str | None = None  # the sender of the first version, when it came over HTTP
    review_date: date | None = None  # of the latest version
    reminded_for: date | None = None  # the review date the owner was last reminded of

    def expired(self, today: date) -> bool:
        return self.keep_until is not None and self.keep_until < today

    def review_due(self, today: date, policy: RoutingPolicy) -> bool:
        """Whether the owner is to be reminded now: the review date is near and it was not
        reminded of this one."""
        if self.review_date is None or self.reminded_for == self.review_date:
            return False
        return today >= self.review_date - timedelta(days=policy.review_notice_days)

    def due(self, today: date, policy: RoutingPolicy) -> bool:
        return self.expired(today) or self.review_due(today, policy)

    def due_from(self, policy: RoutingPolicy) -> date | None:
        """The first day :meth:`due` holds (None if it never will as things stand)."""
        days = []
        if self.keep_until is not None and self.keep_until < date.max:
            days.append(self.keep_until + timedelta(days=1))
        if self.review_date is not None and self.reminded_for != self.review_date:
            days.append(self.review_date - timedelta(days=policy.review_notice_days))
        return min(days, default=None)


def held_after(held: Held, event: Event, decision: RouteDecision, policy: RoutingPolicy) -> Held:
    """What route keeps of the record once ``event`` was routed: every recipient so far, and
    the retention of its latest version (an erasure keeps the date it had)."""
    recipients = held.recipients | decision.recipients
    if not recipients:
        return held
    envelope = event.envelope
    owner = held.owner if held.name is not None else envelope.submitted_by
    if envelope.operation is Operation.ERASURE and held.name is not None:
        # Erased: nothing left to review; the date of the end of retention stays.
        return dataclasses.replace(held, recipients=recipients, review_date=None)
    name = RecordName(
        source_system=envelope.source_system,
        record_id=envelope.source_record_id,
        version=envelope.version,
        reporting_country=envelope.reporting_country,
        reporting_agency=envelope.reporting_agency,
        event_time=envelope.event_time,
        report_time=envelope.report_time,
    )
    return Held(
        recipients,
        keep_until(event, policy),
        name,
        owner=owner,
        review_date=envelope.handling.review_date,
        reminded_for=held.reminded_for,
    )


def retention_decision(held: Held, policy: RoutingPolicy, at: datetime) -> RouteDecision:
    """The erasure notices that end a record's retention: one to each partner that received
    it and is still in the policy; a refusal for each that is not (tell it by hand)."""
    erase = erasure(held, at)
    if erase is None:
        return RouteDecision((), ())
    partners = {p.id: p for p in policy.partners}
    deliveries = tuple(
        Delivery(partners[partner_id], RETENTION_RULE, ("payload",), erase)
        for partner_id in sorted(held.recipients)
        if partner_id in partners
    )
    refusals = tuple(
        Refusal(partner_id, "earlier recipient no longer in the policy: tell it by hand")
        for partner_id in sorted(held.recipients - partners.keys())
    )
    return RouteDecision(deliveries, refusals)


def review_decision(held: Held, policy: RoutingPolicy, at: datetime) -> RouteDecision:
    """The reminder to the owner that the record's review date is near: to the partner the
    policy names for the owner; a refusal when there is none (tell it by hand)."""
    remind = reminder(held, at)
    if remind is None:
        return RouteDecision((), ())
    partner = policy.notices_partner(held.owner)
    if partner is None:
        owner = held.owner or "an owner that did not send over HTTP"
        return RouteDecision((), (Refusal(owner, "no partner takes its notices: tell it by hand"),))
    return RouteDecision((Delivery(partner, REVIEW_RULE, ("payload",), remind),), ())


def reminder(held: Held, at: datetime) -> Event | None:
    """The notice that reminds the owner of the record's review date (None: nothing to
    review)."""
    if held.name is None or held.review_date is None:
        return None
    why = f"review:{held.review_date}"
    return _notice(held.name, at, NoticeAction.REVIEW, NoticeReason.REVIEW_DUE, why)


def erasure(held: Held, at: datetime) -> Event | None:
    """The notice that ends the record's retention (None: nothing names the record)."""
    if held.name is None:
        return None
    return _notice(held.name, at, NoticeAction.ERASE, NoticeReason.RETENTION, "retention")


def _notice(
    name: RecordName, at: datetime, action: NoticeAction, reason: NoticeReason, why: str
) -> Event:
    # The same record at the same version always gets the same notice id: a sweep repeated
    # after a crash repeats the notice, recognisably.
    event_id = uuid.uuid5(
        _RETENTION_NAMESPACE,
        f"{why}:{name.source_system.value}:{name.record_id}:{name.version}",
    )
    envelope = Envelope(
        event_id=event_id,
        source_system=name.source_system,
        source_record_id=name.record_id,
        version=name.version,
        operation=Operation.ERASURE if action is NoticeAction.ERASE else Operation.UPSERT,
        reporting_country=name.reporting_country,
        reporting_agency=name.reporting_agency,
        event_time=name.event_time,
        report_time=name.report_time,
        ingest_time=at,
        handling=NOTICE_HANDLING,
        lineage=Lineage(),
    )
    return notice(envelope, action, reason, event_id)
