"""The end of a record's retention, at every partner that received it.

A record may be held until the last day :func:`pipelines.route.decide.keep_until` gives it:
its provider's ``retention_until``, or the policy's maximum for its kind counted from the day
it came in. Route remembers, per record, who received it, until when it may be held, and
what names it (:class:`Held`: no content, no persons). Once that day has passed in event
time, route's sweep sends each recipient an erasure notice (a ``RestrictionNotice`` with
action ERASE and reason RETENTION), audits each like any disclosure, records the outcome,
and deletes what it held of the record (a tombstone in its changelog).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

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

__all__ = ["Held", "RecordName", "held_after", "retention_decision"]

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

    def expired(self, today: date) -> bool:
        return self.keep_until is not None and self.keep_until < today


def held_after(held: Held, event: Event, decision: RouteDecision, policy: RoutingPolicy) -> Held:
    """What route keeps of the record once ``event`` was routed: every recipient so far, and
    the retention of its latest version (an erasure keeps the date it had)."""
    recipients = held.recipients | decision.recipients
    if not recipients:
        return held
    envelope = event.envelope
    if envelope.operation is Operation.ERASURE and held.name is not None:
        return Held(recipients, held.keep_until, held.name)
    name = RecordName(
        source_system=envelope.source_system,
        record_id=envelope.source_record_id,
        version=envelope.version,
        reporting_country=envelope.reporting_country,
        reporting_agency=envelope.reporting_agency,
        event_time=envelope.event_time,
        report_time=envelope.report_time,
    )
    return Held(recipients, keep_until(event, policy), name)


def retention_decision(held: Held, policy: RoutingPolicy, at: datetime) -> RouteDecision:
    """The erasure notices that end a record's retention: one to each partner that received
    it and is still in the policy; a refusal for each that is not (tell it by hand)."""
    if held.name is None:
        return RouteDecision((), ())
    erase = _erasure_notice(held.name, at)
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


def _erasure_notice(name: RecordName, at: datetime) -> Event:
    # The same record at the same version always gets the same notice id: a sweep repeated
    # after a crash repeats the notice, recognisably.
    event_id = uuid.uuid5(
        _RETENTION_NAMESPACE, f"{name.source_system.value}:{name.record_id}:{name.version}"
    )
    envelope = Envelope(
        event_id=event_id,
        source_system=name.source_system,
        source_record_id=name.record_id,
        version=name.version,
        operation=Operation.ERASURE,
        reporting_country=name.reporting_country,
        reporting_agency=name.reporting_agency,
        event_time=name.event_time,
        report_time=name.report_time,
        ingest_time=at,
        handling=NOTICE_HANDLING,
        lineage=Lineage(),
    )
    return notice(envelope, NoticeAction.ERASE, NoticeReason.RETENTION, event_id)
