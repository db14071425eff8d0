"""Typed values of the liaison.exchange schemas (see schemas/avro/liaison.exchange.*.avsc)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from liaison.model.common import Operation, SienaHandlingCode, SourceSystem, TlpLevel
from liaison.model.police import AlertType, IdentifierKind

__all__ = [
    "DeadLetter",
    "DeliveryAudit",
    "DeliveryReceipt",
    "Enrichment",
    "Header",
    "MatchDirection",
    "NoticeAction",
    "NoticeReason",
    "PipelineOutcome",
    "ReceiptOutcome",
    "RestrictionNotice",
    "WatchlistHit",
]


class ReceiptOutcome(StrEnum):
    """What became of one delivery at the partner's side: DELIVERED (the far side confirmed it: an
    HTTP 2xx, an upload file written), REFUSED (the far side or the sink refused it for good),
    DEAD_LETTERED (given up after the bounded attempts, or not readable: it went to the
    dead-letter topic).
    """

    DELIVERED = "DELIVERED"
    REFUSED = "REFUSED"
    DEAD_LETTERED = "DEAD_LETTERED"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReceipt:
    """What a sink did with one record of a partner topic, written once the partner's side
    answered and before the sink moves past it: the record as the audit names it, the partner,
    and the outcome. With the audit record of the disclosure it shows that the partner received
    what Liaison sent.
    """

    receipt_id: UUID
    event_id: UUID | None = None
    source_system: SourceSystem | None = None
    source_record_id: str | None = None
    event_version: int | None = None
    partner_id: str
    sink: str
    source_topic: str
    source_partition: int
    source_offset: int
    outcome: ReceiptOutcome
    reason: str | None = None
    received_at: datetime


class NoticeAction(StrEnum):
    """What a recipient must do with the copy it holds: RESTRICT it (it may no longer process the
    record: keep it only as the law requires, and use it no further), ERASE it, or REVIEW it
    (sent to the record's owner before its review date: confirm it is still needed, amend it
    or erase it).
    """

    RESTRICT = "RESTRICT"
    ERASE = "ERASE"
    REVIEW = "REVIEW"


class NoticeReason(StrEnum):
    """Why a recipient may no longer hold what it received, as a class and never the detail:
    HANDLING (the provider tightened its handling conditions or named other recipients), SCOPE
    (the record no longer falls within what the recipient receives: its kind, source, commodity
    areas or countries), PERSONAL_DATA (the record now holds personal data the recipient has no
    basis for), ERASED (the provider erased the record), RETENTION (the record reached the end
    of its retention), REVIEW_DUE (the record's review date is near).
    """

    HANDLING = "HANDLING"
    SCOPE = "SCOPE"
    PERSONAL_DATA = "PERSONAL_DATA"
    ERASED = "ERASED"
    RETENTION = "RETENTION"
    REVIEW_DUE = "REVIEW_DUE"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestrictionNotice:
    """A notice about a record (named by the envelope: source system, record id, version) that
    carries nothing of its content. To a partner holding an earlier version: restrict or erase
    it (an amendment it may no longer receive, an erasure, the end of the record's retention;
    LED Art. 7(3) and 16(6)). To the record's owner: review it, its review date is near.
    """

    action: NoticeAction
    reason: NoticeReason


class MatchDirection(StrEnum):
    """Which event found the other: SEIZURE_MATCHED_ALERT when a new seizure involved an identifier
    on the watchlist; ALERT_MATCHED_SEIZURE when a new alert matched a seizure seen within the
    window.
    """

    SEIZURE_MATCHED_ALERT = "SEIZURE_MATCHED_ALERT"
    ALERT_MATCHED_SEIZURE = "ALERT_MATCHED_SEIZURE"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A record Liaison could not handle, kept whole with where it came from and why, so it can be
    inspected and replayed.
    """

    dead_letter_id: UUID
    original_value: bytes
    original_key: bytes | None = None
    original_headers: tuple[Header, ...] = ()
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    stage: str
    error_class: str
    error_message: str
    failed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAudit:
    """One disclosure of one event version to one partner (LED Art."""

    audit_id: UUID
    event_id: UUID
    source_system: SourceSystem
    source_record_id: str
    event_version: int
    operation: Operation
    partner_id: str
    channel: str
    rule_id: str
    legal_basis: str
    purpose: str
    fields_removed: tuple[str, ...] = ()
    handling_code: SienaHandlingCode
    tlp: TlpLevel
    decided_at: datetime
    disclosed_by: str
    policy_digest: str | None = None
    content_sha256: str | None = None
    submitted_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrichment:
    """What Liaison adds to an event from reference data and the watchlist."""

    wco_region: str | None = None
    rilo: str | None = None
    hs_chapter: str | None = None
    hs_chapter_description: str | None = None
    place_name: str | None = None
    place_functions: tuple[str, ...] = ()
    risk_score: int = 0
    risk_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """One Kafka record header."""

    key: str
    value: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOutcome:
    """Where an accepted event's path through the pipeline ended without a delivery, and why: a
    replay, a stale version, a report merged into another, no partner entitled to it.
    """

    event_id: UUID
    source_system: SourceSystem
    source_record_id: str
    version: int
    stage: str
    outcome: str
    reason: str
    related_event_id: UUID | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    decided_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistHit:
    """A match between a customs record and a police alert, derived by Liaison."""

    direction: MatchDirection
    customs_event_id: UUID
    alert_event_id: UUID
    alert_reference: str
    alert_type: AlertType
    matched_kind: IdentifierKind
    matched_identifier: str
    rule: str
    input_handling_codes: tuple[SienaHandlingCode, ...] = ()
    customs_reporting_country: str | None = None
    seizing_side_excluded: bool = False
