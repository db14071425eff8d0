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

import contextlib
import csv
import io
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
    "LINE_LIMIT",
    "ORIGINAL_LIMIT",
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


# The most of a record's own text a result keeps (the whole file is in the archive).
ORIGINAL_LIMIT = 512 * 1024
# The longest physical line of a CSV file read (characters): no row near it can become an
# event within Kafka's message bound, and a file with no line breaks is not held whole.
LINE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class RowResult:
    """One seizure row: its line in the file and the event, or why it was rejected."""

    line: int
    record_id: str
    event: Event | None
    error: MappingError | None
    end_line: int = 0  # the last line of the record when it spans several
    # The record's physical lines as in the file, without their ends, joined by "\n"; at
    # most ORIGINAL_LIMIT characters, ``cut`` when there was more.
    text: str = ""
    cut: bool = False

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
    seizures: Iterable[str] | str,
    persons: Iterable[str] | str | None = None,
    *,
    ingest_time: datetime,
    defaults: CenDefaults = CenDefaults(),
    scratch: Path | None = None,
) -> Iterator[RowResult]:
    """Each seizure row of an export as an event or a rejection naming its line and field.

        Both files are read as streams (the lines of a text stream opened with ``newline=""``,
    or a string):
        memory does not grow with the seizures file, and the persons file is indexed in SQLite,
        in ``scratch`` (a private file, removed at the end) or in memory. A bad persons row
        rejects the seizure it belongs to, not the whole file. A file the CSV reader cannot go
        on with (a cell over the reader's limit) ends with a rejection naming the line; a persons
    file it cannot go on with rejects the export whole.
    """
    with _PersonIndex(scratch) as index:
        if persons is not None:
            try:
                index.load(_stream(persons))
            except _BadPersonsError as exc:  # no seizure can be told its persons: none is read
                yield RowResult(1, "", None, exc)
                return
        yield from _seizure_rows(_stream(seizures), index, ingest_time, defaults)


def _seizure_rows(
    stream: Iterable[str], index: _PersonIndex, ingest_time: datetime, defaults: CenDefaults
) -> Iterator[RowResult]:
    lines = _Lines(stream)
    reader = csv.DictReader(lines)
    try:
        fieldnames = reader.fieldnames or ()
    except (csv.Error, _LineTooLongError) as exc:
        yield _unreadable(lines, exc)
        return
    missing = [c for c in ("source_system", "record_id", "version") if c not in fieldnames]
    if missing:
        yield RowResult(1, "", None, MappingError("header", f"lacks {', '.join(missing)}"))
        return
    lines.take(lines.count)  # the header's
    try:
        for line, end_line, row in _physical_rows(reader):
            text, cut = lines.take(end_line - line + 1)
            yield _seizure_row(
                row,
                line=line,
                end_line=end_line,
                text=text,
                cut=cut,
                index=index,
                ingest_time=ingest_time,
                defaults=defaults,
            )
    except (csv.Error, _LineTooLongError) as exc:
        yield _unreadable(lines, exc)


def _seizure_row(
    row: dict[str, str],
    *,
    line: int,
    end_line: int,
    text: str,
    cut: bool,
    index: _PersonIndex,
    ingest_time: datetime,
    defaults: CenDefaults,
) -> RowResult:
    record_id = (row.get("record_id") or "").strip()
    key = (record_id, (row.get("version") or "").strip())
    try:
        if None in row:  # more cells than header columns
            raise MappingError("row", "has more cells than the header")
        event = event_from_row(row, index.persons(key), ingest_time=ingest_time, defaults=defaults)
    except MappingError as exc:
        return RowResult(line, record_id, None, exc, end_line, text, cut)
    return RowResult(line, record_id, event, None, end_line, text, cut)


def _unreadable(lines: _Lines, exc: csv.Error | _LineTooLongError) -> RowResult:
    """The rejection that ends a file the CSV reader cannot go on with: the rows after
    this line are not read (the file is in the archive)."""
    if isinstance(exc, _LineTooLongError):
        line, (text, cut) = exc.line, ("", True)
        lines.take(0)
    else:
        line = max(1, lines.count)
        text, cut = lines.take(1)
    reason = f"the CSV reader stopped here ({exc}); the rows after it are not read"
    return RowResult(line, "", None, MappingError("file", reason), line, text, cut)


def _stream(source: Iterable[str] | str) -> Iterable[str]:
    return io.StringIO(source, newline="") if isinstance(source, str) else source


class _Lines:
    """The physical lines the CSV reader takes from a stream, held until the row they make
    has been read (so a row's own text travels with its result), and counted."""

    def __init__(self, stream: Iterable[str], *, hold: bool = True) -> None:
        self._readline = getattr(stream, "readline", None)
        self._stream = iter(stream)
        self._hold = hold  # a reader that never takes a row's text holds none
        self._held: list[str] = []
        self._held_chars = 0
        self._cut = False
        self.count = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._readline is None:
            line = next(self._stream)
        else:  # never more than a line's bound in memory, however long the line
            line = self._readline(LINE_LIMIT + 1)
            if not line:
                raise StopIteration
            if len(line) > LINE_LIMIT:
                raise _LineTooLongError(self.count + 1)
        self.count += 1
        if not self._hold:
            return line
        if self._held_chars <= ORIGINAL_LIMIT:
            self._held.append(line)
            self._held_chars += len(line)
        else:
            self._cut = True
        return line

    def take(self, span: int) -> tuple[str, bool]:
        """The text of the last ``span`` lines taken (blank lines before them are not the
        row's), and whether any of it was cut; then forget everything held."""
        held, cut = self._held, self._cut
        if not cut:
            held = held[len(held) - span :] if span < len(held) else held
        text = "\n".join(line.rstrip("\r\n") for line in held)
        self._held, self._held_chars, self._cut = [], 0, False
        if len(text) > ORIGINAL_LIMIT:
            return text[:ORIGINAL_LIMIT], True
        return text, cut


class _LineTooLongError(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line} is longer than {LINE_LIMIT} characters")
        self.line = line


class _PersonIndex(contextlib.AbstractContextManager["_PersonIndex"]):
    """The rows of a persons file by seizure (record id and version), in SQLite: the
    persons of a large export never sit in memory. The stored cells are parsed again when
    their seizure is read; the first bad row of a seizure rejects it."""

    def __init__(self, scratch: Path | None) -> None:
        self._scratch = scratch
        if scratch is not None:
            scratch.unlink(missing_ok=True)  # left by a run that was killed
            os.close(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._db = sqlite3.connect(str(scratch) if scratch is not None else ":memory:")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE person (record_id TEXT, version TEXT, line INTEGER, cells TEXT)"
        )
        self._empty = True

    def load(self, stream: Iterable[str]) -> None:
        reader = csv.DictReader(_Lines(stream, hold=False))
        rows = (
            (
                (row.get("record_id") or "").strip(),
                (row.get("version") or "").strip(),
                line,
                json.dumps({k: v for k, v in row.items() if isinstance(k, str)}),
            )
            for line, _end, row in _physical_rows(reader)
        )
        try:
            with self._db:
                self._db.executemany("INSERT INTO person VALUES (?, ?, ?, ?)", rows)
        except (csv.Error, _LineTooLongError) as exc:
            raise _BadPersonsError(f"persons.csv: the CSV reader stopped ({exc})") from None
        self._db.execute("CREATE INDEX person_of ON person (record_id, version, line)")
        self._empty = False

    def persons(self, key: tuple[str, str]) -> list[Person]:
        """The persons of one seizure, each once (the same person twice is a resend)."""
        if self._empty:
            return []
        found: list[Person] = []
        query = "SELECT line, cells FROM person WHERE record_id = ? AND version = ? ORDER BY line"
        for line, cells in self._db.execute(query, key):
            person = person_of(json.loads(cells), f"persons.csv line {line}: ")
            if person not in found:
                found.append(person)
        return found

    def __exit__(self, *_exc: object) -> None:
        self._db.close()
        if self._scratch is not None:
            self._scratch.unlink(missing_ok=True)


class _BadPersonsError(MappingError):
    def __init__(self, reason: str) -> None:
        super().__init__("persons", reason)


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
