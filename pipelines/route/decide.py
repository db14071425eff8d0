"""The routing decision: for one event, which partners get it, in which form, by which rule.

Personal data is removed mechanically from the fields the schemas mark
``"pii": true``: a partner without a basis for personal data gets none; a
partner with one gets the persons of the categories it may receive. CEN gets
none, whatever the policy says. Data marked H2 or TLP:RED goes only to the
partners the provider named. A later version of a record reaches every partner
that received an earlier one (LED Art. 7(3)): in full when today's rules allow
it, otherwise as a restriction notice that carries nothing of the content. A record past
its retention (:func:`keep_until`) reaches nobody new, and earlier recipients are told to
erase it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
import uuid
from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from typing import Any

from liaison.avro.store import SCHEMA_DIR
from liaison.model import avro_name, hints
from liaison.model.common import (
    DataSubjectCategory,
    Envelope,
    Event,
    HandlingConditions,
    Operation,
    Person,
    SienaHandlingCode,
    TlpLevel,
)
from liaison.model.customs import CisRecord, CommodityArea, Seizure
from liaison.model.exchange import NoticeAction, NoticeReason, RestrictionNotice, WatchlistHit
from liaison.model.police import PoliceAlert
from liaison.policy import Partner, PayloadKind, RoutingPolicy

__all__ = [
    "NOTICE_HANDLING",
    "RETENTION_RULE",
    "Delivery",
    "Refusal",
    "RouteDecision",
    "keep_until",
    "notice",
    "payload_kind",
    "refusal_reasons",
    "restriction_notice",
    "route_decision",
    "strip_personal",
]


@dataclass(frozen=True)
class Delivery:
    partner: Partner
    rule_id: str
    removed_fields: tuple[str, ...]
    event: Event  # the form this partner gets


@dataclass(frozen=True)
class Refusal:
    partner_id: str
    reason: str


@dataclass(frozen=True)
class RouteDecision:
    deliveries: tuple[Delivery, ...]
    refusals: tuple[Refusal, ...]

    @property
    def recipients(self) -> frozenset[str]:
        return frozenset(d.partner.id for d in self.deliveries)


def refusal_reasons(decision: RouteDecision) -> str:
    """Every refusal of a decision, for its outcome record: ``PARTNER: reason; ...``."""
    return "; ".join(f"{r.partner_id}: {r.reason}" for r in decision.refusals)


def payload_kind(event: Event) -> PayloadKind:
    payload = event.payload
    if isinstance(payload, Seizure):
        return PayloadKind.SEIZURE
    if isinstance(payload, CisRecord):
        return PayloadKind.CIS_RECORD
    if isinstance(payload, PoliceAlert):
        return PayloadKind.POLICE_ALERT
    if isinstance(payload, WatchlistHit):
        return PayloadKind.WATCHLIST_HIT
    raise TypeError(type(payload).__name__)


def keep_until(event: Event, policy: RoutingPolicy) -> date:
    """The last day ``event``'s record may be held: its provider's ``retention_until``, or,
    without one, the policy's maximum for its kind counted from the day it came in."""
    given = event.envelope.handling.retention_until
    if given is not None:
        return given
    return (event.envelope.ingest_time + policy.max_retention(payload_kind(event))).date()


def _past_retention(event: Event, policy: RoutingPolicy) -> bool:
    """Whether ``event`` came in after the last day its record may be held (an erasure is
    never too late: it is what retention asks for)."""
    if event.envelope.operation is Operation.ERASURE:
        return False
    return keep_until(event, policy) < event.envelope.ingest_time.date()


def _areas(event: Event) -> set[CommodityArea] | None:
    """The commodity areas of a customs payload; None where areas do not apply."""
    payload = event.payload
    if isinstance(payload, Seizure):
        return {payload.commodity_area}
    if isinstance(payload, CisRecord):
        return {item.commodity_area for item in payload.items} or {CommodityArea.OTHER}
    return None


def _countries(event: Event) -> set[str]:
    countries = {event.envelope.reporting_country}
    payload = event.payload
    route = getattr(payload, "route", None)
    if route is not None:
        countries |= {c for c in (route.origin_country, route.destination_country) if c}
        countries |= set(route.transit_countries)
    if isinstance(payload, PoliceAlert):
        countries.add(payload.issuing_country)
    # Both sides hear of a hit: the alert's country and the seizing administration's, unless
    # the alert may not be shown to the seizing side.
    seized_in = getattr(payload, "customs_reporting_country", None)
    if isinstance(payload, WatchlistHit) and seized_in and not payload.seizing_side_excluded:
        countries.add(seized_in)
    return countries


def _restricted(event: Event) -> bool:
    """Whether only named recipients may have it: H2, TLP:RED, or any record whose provider
    named its recipients (derived data keeps the names of an H2 or RED input)."""
    handling = event.envelope.handling
    return (
        handling.handling_code is SienaHandlingCode.H2
        or handling.tlp is TlpLevel.RED
        or bool(handling.releasable_to)
    )


Reason = tuple[NoticeReason, str]  # the class a notice may name, and the whole reason


def _why_not(  # noqa: PLR0911, PLR0912 - one guard per rule
    event: Event, partner: Partner
) -> Reason | None:
    """Why ``partner`` must not or need not get ``event``; None when it gets it."""
    kind = payload_kind(event)
    envelope = event.envelope
    handling = envelope.handling
    if kind not in partner.payloads:
        return NoticeReason.SCOPE, f"does not receive {kind.value}"
    if envelope.source_system not in partner.sources:
        return NoticeReason.SCOPE, f"does not receive from {envelope.source_system.value}"
    if handling.handling_code not in partner.handling_codes:
        return (
            NoticeReason.HANDLING,
            f"may not receive handling code {handling.handling_code.value}",
        )
    if handling.tlp not in partner.tlp:
        return NoticeReason.HANDLING, f"may not receive TLP:{handling.tlp.value}"
    if isinstance(event.payload, WatchlistHit):
        refused = [c for c in event.payload.input_handling_codes if c not in partner.handling_codes]
        if refused:
            return (
                NoticeReason.HANDLING,
                f"may not receive handling code {refused[0].value} (of a record the hit is about)",
            )
    about = set(envelope.data_subject_categories)
    if isinstance(event.payload, WatchlistHit) and about:
        # A hit about a person is personal data whole: there is nothing to strip from it.
        if not partner.personal_data or partner.kind == "cen":
            return NoticeReason.PERSONAL_DATA, "may not receive personal data"
        if not about <= partner.subject_categories:
            named = ", ".join(sorted(c.value for c in about))
            return NoticeReason.PERSONAL_DATA, f"may not receive data about {named}"
    if _restricted(event):
        if partner.id not in handling.releasable_to:
            return NoticeReason.HANDLING, "not a named recipient of H2 or TLP:RED data"
        return None  # named by the provider: area and country interests do not apply
    areas = _areas(event)
    if areas is not None and not any(partner.covers_area(area) for area in areas):
        return NoticeReason.SCOPE, "not for its commodity areas"
    if not partner.covers_country(_countries(event)):
        payload = event.payload
        if (
            isinstance(payload, WatchlistHit)
            and payload.seizing_side_excluded
            and payload.customs_reporting_country
            and partner.covers_country({payload.customs_reporting_country})
        ):
            return (
                NoticeReason.HANDLING,
                "the alert is under H3 restrictions: the seizing side may not learn of it",
            )
        return NoticeReason.SCOPE, "not for its countries"
    return None


def _rule_id(event: Event, partner: Partner) -> str:
    if _restricted(event):
        return f"{partner.id}/named-recipient"
    areas = sorted(a.value for a in _areas(event) or ())
    return f"{partner.id}/{payload_kind(event).value}" + (f"/{'+'.join(areas)}" if areas else "")


def route_decision(
    event: Event, policy: RoutingPolicy, earlier_recipients: frozenset[str] = frozenset()
) -> RouteDecision:
    """Who gets ``event``, in which form, by which rule; and who does not, and why.

    Every partner gets what the policy allows it, stripped for it. A later version (an
    amendment of any operation, a correction, an erasure) also reaches every partner that
    received an earlier one (LED Art. 7(3)): in full, stripped as usual, when the policy still
    allows it; otherwise as a restriction notice, which names the record and says restrict or
    erase, and why as a class, and carries nothing of the content. A record already past its
    retention goes to nobody, and those that hold a copy are told to erase it."""
    deliveries: list[Delivery] = []
    refusals: list[Refusal] = []
    if _past_retention(event, policy):
        for partner in policy.partners:
            if partner.id in earlier_recipients:
                erase = restriction_notice(event, NoticeReason.RETENTION, NoticeAction.ERASE)
                deliveries.append(Delivery(partner, RETENTION_RULE, ("payload",), erase))
            refusals.append(Refusal(partner.id, "past its retention date"))
        return RouteDecision(tuple(deliveries), (*refusals, *_gone(earlier_recipients, policy)))
    for partner in policy.partners:
        why = _why_not(event, partner)
        if why is None:
            allowed = (
                partner.subject_categories
                if partner.personal_data and partner.kind != "cen"
                else frozenset()
            )
            form, removed = strip_personal(event, allowed)
            deliveries.append(Delivery(partner, _rule_id(event, partner), removed, form))
        elif partner.id in earlier_recipients:
            notice = restriction_notice(event, why[0])
            rule = f"{partner.id}/restriction-notice"  # LED Art. 7(3)
            deliveries.append(Delivery(partner, rule, ("payload",), notice))
            refusals.append(Refusal(partner.id, why[1] + "; sent a restriction notice"))
        else:
            refusals.append(Refusal(partner.id, why[1]))
    return RouteDecision(tuple(deliveries), (*refusals, *_gone(earlier_recipients, policy)))


RETENTION_RULE = "retention/erasure-notice"


def _gone(earlier_recipients: frozenset[str], policy: RoutingPolicy) -> list[Refusal]:
    """Earlier recipients the policy no longer names: nobody can tell them but a person."""
    missing = earlier_recipients - {p.id for p in policy.partners}
    return [
        Refusal(partner_id, "earlier recipient no longer in the policy: tell it by hand")
        for partner_id in sorted(missing)
    ]


_NOTICE_NAMESPACE = uuid.UUID("7d3e9b14-2c6a-5f81-9b0e-4a6c8d2f1e57")
# A notice names a record the recipient already holds, and says nothing of its content.
NOTICE_HANDLING = HandlingConditions(
    handling_code=SienaHandlingCode.H0,
    tlp=TlpLevel.AMBER,
    purpose="notice that a record received earlier was restricted or erased",
    legal_basis="Directive (EU) 2016/680, Art. 7(3) and 16(6)",
)


def restriction_notice(
    event: Event, reason: NoticeReason, action: NoticeAction | None = None
) -> Event:
    """The notice for a partner that holds an earlier version of ``event``'s record and may
    not have this one: restrict (or, for an erasure, erase) the copy it holds."""
    envelope = event.envelope
    if envelope.operation is Operation.ERASURE:
        action, reason = NoticeAction.ERASE, NoticeReason.ERASED
    return notice(
        envelope,
        action or NoticeAction.RESTRICT,
        reason,
        uuid.uuid5(_NOTICE_NAMESPACE, str(envelope.event_id)),
    )


def notice(
    envelope: Envelope, action: NoticeAction, reason: NoticeReason, event_id: uuid.UUID
) -> Event:
    """A notice about the record ``envelope`` names: its identity, and nothing else of it."""
    body = RestrictionNotice(action=action, reason=reason)
    form = Envelope(
        event_id=event_id,
        source_system=envelope.source_system,
        source_record_id=envelope.source_record_id,
        version=envelope.version,
        operation=envelope.operation,
        reporting_country=envelope.reporting_country,
        reporting_agency=envelope.reporting_agency,
        event_time=envelope.event_time,
        report_time=envelope.report_time,
        ingest_time=envelope.ingest_time,
        handling=NOTICE_HANDLING,
        lineage=envelope.lineage,
    )
    return Event(envelope=form, payload=body)


@functools.cache
def _pii_fields() -> dict[str, frozenset[str]]:
    """Field names marked "pii": true, per record type, read from the schema files."""
    marked: dict[str, frozenset[str]] = {}
    for path in SCHEMA_DIR.glob("*.avsc"):
        schema = json.loads(path.read_text())
        names = frozenset(f["name"] for f in schema.get("fields", []) if f.get("pii") is True)
        if names:
            marked[path.stem] = names
    return marked


def strip_personal(
    event: Event, allowed: frozenset[DataSubjectCategory]
) -> tuple[Event, tuple[str, ...]]:
    """``event`` without the personal data a recipient may not have, and the paths removed."""
    removed: list[str] = []
    stripped = _strip(event, "", allowed, removed)
    if not hasattr(stripped.payload, "persons"):
        # A hit names no person but is about one: its categories stay, and already decided
        # who may have it.
        return stripped, tuple(removed)
    categories = tuple(sorted({person.category for person in stripped.payload.persons}))
    envelope = dataclasses.replace(stripped.envelope, data_subject_categories=categories)
    return dataclasses.replace(stripped, envelope=envelope), tuple(removed)


def _strip(
    value: Any, path: str, allowed: frozenset[DataSubjectCategory], removed: list[str]
) -> Any:
    if isinstance(value, tuple):
        return tuple(_strip(v, f"{path}[{i}]", allowed, removed) for i, v in enumerate(value))
    if not (is_dataclass(value) and not isinstance(value, type)):
        return value
    if isinstance(value, Person):
        return value  # a person who got this far is one the recipient may receive
    if not _may_hold_personal(type(value)):
        return value
    marked = _pii_fields().get(avro_name(type(value)), frozenset())
    changes: dict[str, Any] = {}
    for item in fields(value):
        current = getattr(value, item.name)
        where = f"{path}.{item.name}" if path else item.name
        if item.name in marked and current not in (None, ()):
            kept = _allowed_persons(current, allowed)
            if kept != current:
                removed.append(where if not kept else f"{where} (by category)")
                changes[item.name] = kept if kept else item.default
            continue
        inner = _strip(current, where, allowed, removed)
        if inner is not current:
            changes[item.name] = inner
    return dataclasses.replace(value, **changes) if changes else value


@functools.cache
def _may_hold_personal(cls: type) -> bool:
    """Whether a record of this type has a field marked "pii", itself or in any record it
    can contain: the walk skips every other record whole."""
    seen: set[type] = set()

    def holds(record: type) -> bool:
        if record in seen:
            return False  # already being answered higher up
        seen.add(record)
        if record is Person or _pii_fields().get(avro_name(record)):
            return True
        return any(holds(inner) for inner in _records_in(list(hints(record).values())))

    return holds(cls)


def _records_in(types_: list[Any]) -> list[type]:
    """The record types a field of these types can hold (through unions and tuples)."""
    found: list[type] = []
    for hint in types_:
        if isinstance(hint, type) and is_dataclass(hint):
            found.append(hint)
        else:
            found.extend(_records_in(list(typing.get_args(hint))))
    return found


def _allowed_persons(value: Any, allowed: frozenset[DataSubjectCategory]) -> Any:
    if isinstance(value, tuple) and all(isinstance(v, Person) for v in value):
        return tuple(v for v in value if v.category in allowed)
    return None if not allowed else value
