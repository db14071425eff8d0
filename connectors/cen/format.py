"""The CEN export layout: one CSV of seizures, and for nCEN exports a CSV of linked persons.

A national system drops ``<batch>.seizures.csv`` (and, when it is a national CEN
installation holding nominal data, ``<batch>.persons.csv``) into the CEN inbox.
UTF-8, comma-separated, a header row with the column names below in any
order; empty cells are absent values; lists are space-separated. CEN itself is
non-nominal: a row with ``source_system`` CEN must have no persons.

Columns of ``seizures.csv`` (required ones marked *):

====================== =====================================================
source_system*         CEN or NCEN
record_id*             the record's id in the source system
version*               1 for a new record, higher for each amendment
operation*             UPSERT, CORRECTION or ERASURE
reporting_country*     ISO 3166-1 alpha-2
reporting_agency*      free text
seizure_time*          ISO 8601 with offset, or a date alone (midnight UTC)
report_time*           ISO 8601 with offset
commodity_area*        DRUGS, TOBACCO, WILDLIFE, ... (liaison.customs.CommodityArea)
commodity*             plain description of the goods
hs_code                6 to 10 digits
quantity*, unit*       number; UN/ECE Rec 20 unit code (KGM, GRM, LTR, MTQ, H87, NAR, PR)
estimated_value        amount, two decimals at most; with currency (ISO 4217)
concealment            how the goods were hidden
cover_story            what the carrier claimed
detection_method*      RISK_PROFILING, XRAY_SCANNER, DETECTOR_DOG, ...
transport_mode*        UN/CEFACT Rec 19 code, 0 to 9
vehicle_registration, vin, imo_number, vessel_name, flight_number
container_numbers      ISO 6346 numbers, space-separated
unlocode, customs_office, place_description
origin_country, transit_countries (space-separated), destination_country
organisation_name, organisation_country, organisation_role
firearm_serials        serial numbers of seized firearms, space-separated
object_ids             ids of seized cultural or other unique objects, space-separated
handling_code, restrictions, tlp, releasable_to, purpose, legal_basis,
review_date, retention_until   the handling conditions; when handling_code is
                       empty the connector applies its configured defaults
source_reliability, information_accuracy   Europol 4x4 evaluation (optional)
====================== =====================================================

Columns of ``persons.csv``: record_id*, version*, category* (SUSPECT, CONVICTED,
VICTIM, WITNESS_OR_CONTACT, OTHER), role, family_name, given_names,
date_of_birth, nationality, document_type, document_number, document_country.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.fields import (
    format_timestamp,
    parse_date,
    parse_decimal,
    parse_enum,
    parse_float,
    parse_int,
    parse_timestamp,
    required,
)
from liaison.errors import MappingError
from liaison.identity import event_id_for
from liaison.model.common import (
    DataSubjectCategory,
    DocumentType,
    Envelope,
    EvaluationCodes,
    Event,
    HandlingConditions,
    InformationAccuracy,
    Lineage,
    Operation,
    Organisation,
    Person,
    SienaHandlingCode,
    SourceReliability,
    SourceSystem,
    TlpLevel,
)
from liaison.model.customs import (
    CommodityArea,
    Conveyance,
    DetectionMethod,
    MonetaryAmount,
    Place,
    Quantity,
    QuantityUnit,
    Route,
    Seizure,
    TransportMode,
)

__all__ = [
    "PERSON_COLUMNS",
    "SEIZURE_COLUMNS",
    "CenDefaults",
    "RowResult",
    "event_from_row",
    "person_of",
    "person_rows",
    "physical_lines",
    "read_export",
    "seizure_row",
    "write_export",
]

SEIZURE_COLUMNS = (
    "source_system",
    "record_id",
    "version",
    "operation",
    "reporting_country",
    "reporting_agency",
    "seizure_time",
    "report_time",
    "commodity_area",
    "commodity",
    "hs_code",
    "quantity",
    "unit",
    "estimated_value",
    "currency",
    "concealment",
    "cover_story",
    "detection_method",
    "transport_mode",
    "vehicle_registration",
    "vin",
    "imo_number",
    "vessel_name",
    "container_numbers",
    "flight_number",
    "unlocode",
    "customs_office",
    "place_description",
    "origin_country",
    "transit_countries",
    "destination_country",
    "organisation_name",
    "organisation_country",
    "organisation_role",
    "firearm_serials",
    "object_ids",
    "handling_code",
    "restrictions",
    "tlp",
    "releasable_to",
    "purpose",
    "legal_basis",
    "review_date",
    "retention_until",
    "source_reliability",
    "information_accuracy",
)
PERSON_COLUMNS = (
    "record_id",
    "version",
    "category",
    "role",
    "family_name",
    "given_names",
    "date_of_birth",
    "nationality",
    "document_type",
    "document_number",
    "document_country",
)
_MODES = list(TransportMode)  # in Rec 19 order: the index is the code


_CEN_AGREEMENT = HandlingConditions(
    handling_code=SienaHandlingCode.H0,
    tlp=TlpLevel.GREEN,
    purpose="prevention and detection of serious cross-border crime",
    legal_basis="WCO CEN data-sharing agreement",
)
_NATIONAL_NOMINAL = HandlingConditions(
    handling_code=SienaHandlingCode.H1,
    tlp=TlpLevel.AMBER,
    purpose="prevention and detection of serious cross-border crime",
    legal_basis="Regulation (EC) 515/97",
)


@dataclass(frozen=True)
class CenDefaults:
    """Handling conditions for rows that carry none, per the exchange agreements."""

    non_nominal: HandlingConditions = _CEN_AGREEMENT
    nominal: HandlingConditions = _NATIONAL_NOMINAL


@dataclass(frozen=True)
class RowResult:
    """One seizure row: its line in the file and the event, or why it was rejected."""

    line: int
    record_id: str
    event: Event | None
    error: MappingError | None
    end_line: int = 0  # the last line of the record when it spans several (XML)

    @property
    def lines(self) -> tuple[int, int]:
        """First and last line of the record in its file."""
        return self.line, max(self.line, self.end_line)


# -- writing -------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    if isinstance(value, datetime):
        return format_timestamp(value)
    return str(value)


def seizure_row(event: Event) -> dict[str, str]:
    """The ``seizures.csv`` row of a seizure event."""
    envelope, seizure = event.envelope, event.payload
    if not isinstance(seizure, Seizure):
        raise MappingError("payload", "the CEN layout carries seizures only")
    handling, evaluation = envelope.handling, envelope.evaluation
    organisation = seizure.organisations[0] if seizure.organisations else None
    conveyance, place, route = seizure.conveyance, seizure.place, seizure.route
    value = seizure.estimated_value
    cells: dict[str, object] = {
        "source_system": envelope.source_system,
        "record_id": envelope.source_record_id,
        "version": envelope.version,
        "operation": envelope.operation,
        "reporting_country": envelope.reporting_country,
        "reporting_agency": envelope.reporting_agency,
        "seizure_time": envelope.event_time,
        "report_time": envelope.report_time,
        "commodity_area": seizure.commodity_area,
        "commodity": seizure.commodity_description,
        "hs_code": seizure.hs_code,
        "quantity": repr(seizure.quantity.amount),
        "unit": seizure.quantity.unit,
        "estimated_value": value.amount if value else None,
        "currency": value.currency if value else None,
        "concealment": seizure.concealment,
        "cover_story": seizure.cover_story,
        "detection_method": seizure.detection_method,
        "transport_mode": _MODES.index(seizure.transport_mode),
        "vehicle_registration": conveyance.vehicle_registration,
        "vin": conveyance.vin,
        "imo_number": conveyance.imo_number,
        "vessel_name": conveyance.vessel_name,
        "container_numbers": conveyance.container_numbers,
        "flight_number": conveyance.flight_number,
        "unlocode": place.unlocode,
        "customs_office": place.customs_office,
        "place_description": place.description,
        "origin_country": route.origin_country,
        "transit_countries": route.transit_countries,
        "destination_country": route.destination_country,
        "organisation_name": organisation.name if organisation else None,
        "organisation_country": organisation.country if organisation else None,
        "organisation_role": organisation.role if organisation else None,
        "firearm_serials": seizure.firearm_serials,
        "object_ids": seizure.object_ids,
        "handling_code": handling.handling_code,
        "restrictions": handling.restrictions,
        "tlp": handling.tlp,
        "releasable_to": handling.releasable_to,
        "purpose": handling.purpose,
        "legal_basis": handling.legal_basis,
        "review_date": handling.review_date,
        "retention_until": handling.retention_until,
        "source_reliability": evaluation.source_reliability if evaluation else None,
        "information_accuracy": evaluation.information_accuracy if evaluation else None,
    }
    return {column: _text(cells[column]) for column in SEIZURE_COLUMNS}


def person_rows(event: Event) -> list[dict[str, str]]:
    """The ``persons.csv`` rows of a seizure event (none for CEN)."""
    seizure = event.payload
    if not isinstance(seizure, Seizure):
        return []
    rows = []
    for person in seizure.persons:
        cells: dict[str, object] = {
            "record_id": event.envelope.source_record_id,
            "version": event.envelope.version,
            "category": person.category,
            "role": person.role,
            "family_name": person.family_name,
            "given_names": person.given_names,
            "date_of_birth": person.date_of_birth,
            "nationality": person.nationality,
            "document_type": person.document_type,
            "document_number": person.document_number,
            "document_country": person.document_country,
        }
        rows.append({column: _text(cells[column]) for column in PERSON_COLUMNS})
    return rows


def write_export(events: Iterable[Event]) -> tuple[str, str]:
    """The text of ``seizures.csv`` and ``persons.csv`` for these events."""
    seizures, persons = io.StringIO(), io.StringIO()
    seizure_writer = csv.DictWriter(seizures, SEIZURE_COLUMNS, lineterminator="\n")
    person_writer = csv.DictWriter(persons, PERSON_COLUMNS, lineterminator="\n")
    seizure_writer.writeheader()
    person_writer.writeheader()
    for event in events:
        seizure_writer.writerow(seizure_row(event))
        person_writer.writerows(person_rows(event))
    return seizures.getvalue(), persons.getvalue()


# -- reading -------------------------------------------------------------------


def _get(row: Mapping[str, str | None], column: str) -> str | None:
    value = row.get(column)
    return value.strip() if value and value.strip() else None


def _need(row: Mapping[str, str | None], column: str) -> str:
    return required(row.get(column), column)


def person_of(row: Mapping[str, str | None], where: str) -> Person:
    """The person of one ``persons.csv`` row (or XML ``person``); ``where`` prefixes errors."""
    try:
        birth = _get(row, "date_of_birth")
        document = _get(row, "document_type")
        return Person(
            category=parse_enum(DataSubjectCategory, _need(row, "category"), "category"),
            role=_get(row, "role"),
            family_name=_get(row, "family_name"),
            given_names=_get(row, "given_names"),
            date_of_birth=parse_date(birth, "date_of_birth") if birth else None,
            nationality=_get(row, "nationality"),
            document_type=parse_enum(DocumentType, document, "document_type") if document else None,
            document_number=_get(row, "document_number"),
            document_country=_get(row, "document_country"),
        )
    except MappingError as exc:
        raise MappingError(where + exc.field, exc.reason) from None


def _handling(row: Mapping[str, str | None], default: HandlingConditions) -> HandlingConditions:
    code = _get(row, "handling_code")
    if code is None:
        return default
    review, retention = _get(row, "review_date"), _get(row, "retention_until")
    return HandlingConditions(
        handling_code=parse_enum(SienaHandlingCode, code, "handling_code"),
        restrictions=_get(row, "restrictions"),
        tlp=parse_enum(TlpLevel, _need(row, "tlp"), "tlp"),
        releasable_to=tuple((_get(row, "releasable_to") or "").split()),
        purpose=_need(row, "purpose"),
        legal_basis=_need(row, "legal_basis"),
        review_date=parse_date(review, "review_date") if review else None,
        retention_until=parse_date(retention, "retention_until") if retention else None,
    )


def _evaluation(row: Mapping[str, str | None]) -> EvaluationCodes | None:
    reliability, accuracy = _get(row, "source_reliability"), _get(row, "information_accuracy")
    if reliability is None and accuracy is None:
        return None
    return EvaluationCodes(
        source_reliability=parse_enum(
            SourceReliability, _need(row, "source_reliability"), "source_reliability"
        ),
        information_accuracy=parse_enum(
            InformationAccuracy, _need(row, "information_accuracy"), "information_accuracy"
        ),
    )


def event_from_row(
    row: Mapping[str, str | None],
    persons: Sequence[Person],
    *,
    ingest_time: datetime,
    defaults: CenDefaults = CenDefaults(),
) -> Event:
    """The seizure event of one ``seizures.csv`` row and its persons."""
    source = parse_enum(SourceSystem, _need(row, "source_system"), "source_system")
    if source not in (SourceSystem.CEN, SourceSystem.NCEN):
        raise MappingError("source_system", "must be CEN or NCEN")
    if source is SourceSystem.CEN and persons:
        raise MappingError("persons", "CEN is non-nominal: a CEN record has no persons")
    record_id = _need(row, "record_id")
    version = parse_int(_need(row, "version"), "version", minimum=1)
    value, currency = _get(row, "estimated_value"), _get(row, "currency")
    if (value is None) != (currency is None):
        raise MappingError("currency", "estimated_value and currency go together")
    mode = parse_int(_need(row, "transport_mode"), "transport_mode")
    if not 0 <= mode < len(_MODES):
        raise MappingError("transport_mode", "must be a UN/CEFACT Rec 19 code, 0 to 9")
    organisation = _get(row, "organisation_name")
    seizure = Seizure(
        commodity_description=_need(row, "commodity"),
        hs_code=_get(row, "hs_code"),
        commodity_area=parse_enum(CommodityArea, _need(row, "commodity_area"), "commodity_area"),
        quantity=Quantity(
            amount=parse_float(_need(row, "quantity"), "quantity"),
            unit=parse_enum(QuantityUnit, _need(row, "unit"), "unit"),
        ),
        estimated_value=MonetaryAmount(
            amount=parse_decimal(value, "estimated_value"), currency=currency
        )
        if value is not None and currency is not None
        else None,
        concealment=_get(row, "concealment"),
        cover_story=_get(row, "cover_story"),
        detection_method=parse_enum(
            DetectionMethod, _need(row, "detection_method"), "detection_method"
        ),
        transport_mode=_MODES[mode],
        conveyance=Conveyance(
            vehicle_registration=_get(row, "vehicle_registration"),
            vin=_get(row, "vin"),
            imo_number=_get(row, "imo_number"),
            vessel_name=_get(row, "vessel_name"),
            container_numbers=tuple((_get(row, "container_numbers") or "").split()),
            flight_number=_get(row, "flight_number"),
        ),
        place=Place(
            unlocode=_get(row, "unlocode"),
            customs_office=_get(row, "customs_office"),
            description=_get(row, "place_description"),
        ),
        route=Route(
            origin_country=_get(row, "origin_country"),
            transit_countries=tuple((_get(row, "transit_countries") or "").split()),
            destination_country=_get(row, "destination_country"),
        ),
        persons=tuple(persons),
        organisations=(
            Organisation(
                name=organisation,
                country=_get(row, "organisation_country"),
                role=_get(row, "organisation_role"),
            ),
        )
        if organisation
        else (),
        firearm_serials=tuple((_get(row, "firearm_serials") or "").split()),
        object_ids=tuple((_get(row, "object_ids") or "").split()),
    )
    default = defaults.nominal if source is SourceSystem.NCEN else defaults.non_nominal
    envelope = Envelope(
        event_id=event_id_for(source, record_id, version),
        source_system=source,
        source_record_id=record_id,
        version=version,
        operation=parse_enum(Operation, _need(row, "operation"), "operation"),
        reporting_country=_need(row, "reporting_country"),
        reporting_agency=_need(row, "reporting_agency"),
        event_time=parse_timestamp(_need(row, "seizure_time"), "seizure_time"),
        report_time=parse_timestamp(_need(row, "report_time"), "report_time"),
        ingest_time=ingest_time,
        handling=_handling(row, default),
        evaluation=_evaluation(row),
        data_subject_categories=tuple(sorted({p.category for p in persons})),
        lineage=Lineage(),
    )
    return Event(envelope=envelope, payload=seizure)


def read_export(
    seizures_text: str,
    persons_text: str | None = None,
    *,
    ingest_time: datetime,
    defaults: CenDefaults = CenDefaults(),
) -> Iterator[RowResult]:
    """Each seizure row of an export as an event or a rejection naming its line and field.

    A bad persons row rejects the seizure it belongs to, not the whole file.
    """
    persons: dict[tuple[str, str], list[Person]] = defaultdict(list)
    person_errors: dict[tuple[str, str], MappingError] = {}
    if persons_text:
        reader = csv.DictReader(io.StringIO(persons_text, newline=""))
        for line, _end, row in _physical_rows(reader):
            key = ((row.get("record_id") or "").strip(), (row.get("version") or "").strip())
            try:
                person = person_of(row, f"persons.csv line {line}: ")
            except MappingError as exc:
                person_errors.setdefault(key, exc)
                continue
            if person not in persons[key]:  # the same person twice: a resend, not two people
                persons[key].append(person)
    reader = csv.DictReader(io.StringIO(seizures_text, newline=""))
    missing = [
        c for c in ("source_system", "record_id", "version") if c not in (reader.fieldnames or ())
    ]
    if missing:
        yield RowResult(1, "", None, MappingError("header", f"lacks {', '.join(missing)}"))
        return
    for line, end_line, row in _physical_rows(reader):
        record_id = (row.get("record_id") or "").strip()
        key = (record_id, (row.get("version") or "").strip())
        if None in row:  # more cells than header columns
            yield RowResult(
                line,
                record_id,
                None,
                MappingError("row", "has more cells than the header"),
                end_line,
            )
            continue
        try:
            if key in person_errors:
                raise person_errors[key]
            event = event_from_row(
                row, persons.get(key, []), ingest_time=ingest_time, defaults=defaults
            )
        except MappingError as exc:
            yield RowResult(line, record_id, None, exc, end_line)
        else:
            yield RowResult(line, record_id, event, None, end_line)


def _physical_rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, int, dict[str, str]]]:
    """Each row with the physical lines it spans (a quoted cell may hold line breaks), as
    an editor numbers them; blank lines are skipped, as the reader skips them."""
    last = reader.line_num  # the header's last line
    for row in reader:
        # The reader skipped blank lines before the row: it starts after them.
        end = reader.line_num
        spans = sum(1 for cell in row.values() if isinstance(cell, str) for _ in _breaks(cell))
        yield max(last + 1, end - spans), end, row
        last = end


def _breaks(cell: str) -> Iterator[int]:
    """The line breaks inside one cell (CRLF counts once)."""
    text = cell.replace("\r\n", "\n").replace("\r", "\n")
    for index, char in enumerate(text):
        if char == "\n":
            yield index


def physical_lines(text: str) -> list[str]:
    """The lines of a CSV file as its reader counts them (LF, CRLF or CR ends one), without
    their ends; line N of a result is element N - 1."""
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]
