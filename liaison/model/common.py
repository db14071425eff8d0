"""Typed values of the liaison.common schemas (see schemas/avro/liaison.common.*.avsc)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:  # the payload modules import this one
    from liaison.model.customs import CisRecord, Seizure
    from liaison.model.exchange import Enrichment, RestrictionNotice, WatchlistHit
    from liaison.model.police import PoliceAlert


__all__ = [
    "DataSubjectCategory",
    "DocumentType",
    "Envelope",
    "EvaluationCodes",
    "Event",
    "HandlingConditions",
    "InformationAccuracy",
    "Lineage",
    "Operation",
    "Organisation",
    "Person",
    "SienaHandlingCode",
    "SourceReliability",
    "SourceSystem",
    "TlpLevel",
]


class DataSubjectCategory(StrEnum):
    """Category of a natural person the record is about, kept apart as LED Art. 6 requires."""

    SUSPECT = "SUSPECT"
    CONVICTED = "CONVICTED"
    VICTIM = "VICTIM"
    WITNESS_OR_CONTACT = "WITNESS_OR_CONTACT"
    OTHER = "OTHER"


class DocumentType(StrEnum):
    """Kind of identity or travel document."""

    PASSPORT = "PASSPORT"
    IDENTITY_CARD = "IDENTITY_CARD"
    RESIDENCE_PERMIT = "RESIDENCE_PERMIT"
    DRIVING_LICENCE = "DRIVING_LICENCE"
    VISA = "VISA"
    OTHER = "OTHER"


class InformationAccuracy(StrEnum):
    """Europol evaluation of the information."""

    ACCURACY_1 = "ACCURACY_1"
    ACCURACY_2 = "ACCURACY_2"
    ACCURACY_3 = "ACCURACY_3"
    ACCURACY_4 = "ACCURACY_4"


class Operation(StrEnum):
    """What the record does to the source's record of this id: UPSERT creates it or replaces it by
    a newer version; CORRECTION replaces a version found to be wrong, and must reach every
    partner that received an earlier version (LED Art.
    """

    UPSERT = "UPSERT"
    CORRECTION = "CORRECTION"
    ERASURE = "ERASURE"


class SienaHandlingCode(StrEnum):
    """Europol SIENA handling code set by the provider."""

    H0 = "H0"
    H1 = "H1"
    H2 = "H2"
    H3 = "H3"


class SourceReliability(StrEnum):
    """Europol evaluation of the source."""

    A = "A"
    B = "B"
    C = "C"
    X = "X"


class SourceSystem(StrEnum):
    """The system that published the record."""

    CEN = "CEN"
    NCEN = "NCEN"
    CIS_PLUS = "CIS_PLUS"
    POLICE = "POLICE"
    PARTNER = "PARTNER"
    LIAISON = "LIAISON"


class TlpLevel(StrEnum):
    """Traffic Light Protocol 2.0 label."""

    RED = "RED"
    AMBER_STRICT = "AMBER_STRICT"
    AMBER = "AMBER"
    GREEN = "GREEN"
    CLEAR = "CLEAR"


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """What every event carries whatever its payload: identity, source, version, time, handling
    conditions and lineage.
    """

    event_id: UUID
    source_system: SourceSystem
    source_record_id: str
    version: int
    operation: Operation
    reporting_country: str
    reporting_agency: str
    event_time: datetime
    report_time: datetime
    ingest_time: datetime
    handling: HandlingConditions
    evaluation: EvaluationCodes | None = None
    data_subject_categories: tuple[DataSubjectCategory, ...] = ()
    lineage: Lineage
    submitted_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationCodes:
    """The provider's 4x4 evaluation of source and information; kept apart from the facts it
    qualifies (LED Art.
    """

    source_reliability: SourceReliability
    information_accuracy: InformationAccuracy


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """An enforcement event: the envelope and exactly one payload."""

    envelope: Envelope
    payload: Seizure | CisRecord | PoliceAlert | WatchlistHit | RestrictionNotice
    enrichment: Enrichment | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlingConditions:
    """Conditions the provider attaches to the data; they travel with it and every recipient must
    respect them (LED Art.
    """

    handling_code: SienaHandlingCode
    restrictions: str | None = None
    tlp: TlpLevel
    releasable_to: tuple[str, ...] = ()
    purpose: str
    legal_basis: str
    review_date: date | None = None
    retention_until: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Where this event came from inside Liaison, for audit and replay."""

    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    merged_event_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Organisation:
    """A company or other legal person linked to the record."""

    name: str
    registration_number: str | None = None
    country: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """A natural person linked to the record."""

    category: DataSubjectCategory
    role: str | None = None
    family_name: str | None = None
    given_names: str | None = None
    date_of_birth: date | None = None
    nationality: str | None = None
    document_type: DocumentType | None = None
    document_number: str | None = None
    document_country: str | None = None
