"""The CEN export as one XML message: the same data as the CSV pair, persons nested.

A national system may drop ``<batch>.seizures.xml`` instead of the CSV files. UTF-8,
namespace ``urn:liaison:cen-export:1``, no DTD and no entity declarations (a document
carrying either is refused whole). The root ``cen-export`` holds one ``seizure`` element per
record; inside it, one element per column of ``seizures.csv`` (the same names, the same
value syntax, any order, an absent or empty element is an absent value) and, for nCEN, one
``person`` element per linked person with the columns of ``persons.csv`` except
``record_id`` and ``version`` (the enclosing seizure gives them)::

    <?xml version="1.0" encoding="UTF-8"?>
    <cen-export xmlns="urn:liaison:cen-export:1">
      <seizure>
        <source_system>NCEN</source_system>
        <record_id>NL-2026-004711</record_id>
        <version>1</version>
        ...
        <person>
          <category>SUSPECT</category>
          <family_name>...</family_name>
        </person>
      </seizure>
    </cen-export>

Unlike a CSV header, element names are checked: a misspelt element rejects its seizure
instead of dropping the value unseen. Each rejection names the line of its ``seizure``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax import SAXParseException
from xml.sax.handler import (
    ContentHandler,
    feature_namespaces,
)
from xml.sax.xmlreader import AttributesNSImpl, InputSource, Locator

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from connectors.cen.format import (
    PERSON_COLUMNS,
    SEIZURE_COLUMNS,
    CenDefaults,
    RowResult,
    event_from_row,
    person_of,
    person_rows,
    seizure_row,
)
from liaison.errors import MappingError
from liaison.model.common import Event, Person

__all__ = ["NAMESPACE", "read_xml_export", "write_xml_export", "xml_of_rows"]

NAMESPACE = "urn:liaison:cen-export:1"
_ROOT, _SEIZURE, _PERSON = "cen-export", "seizure", "person"
_SEIZURE_FIELDS = frozenset(SEIZURE_COLUMNS)
_PERSON_FIELDS = frozenset(PERSON_COLUMNS) - {"record_id", "version"}


def write_xml_export(events: Iterable[Event]) -> str:
    """The text of ``seizures.xml`` for these events."""
    return xml_of_rows((seizure_row(event), person_rows(event)) for event in events)


def xml_of_rows(records: Iterable[tuple[Mapping[str, str], Iterable[Mapping[str, str]]]]) -> str:
    """``seizures.xml`` from CSV-layout cells: each seizure row with its person rows."""
    root = ET.Element(_ROOT, xmlns=NAMESPACE)
    for cells, persons in records:
        seizure = ET.SubElement(root, _SEIZURE)
        for column, value in cells.items():
            if value:
                ET.SubElement(seizure, column).text = value
        for row in persons:
            person = ET.SubElement(seizure, _PERSON)
            for column, value in row.items():
                if value and column in _PERSON_FIELDS:
                    ET.SubElement(person, column).text = value
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


@dataclass
class _Record:
    line: int
    cells: dict[str, str] = field(default_factory=dict)
    persons: list[dict[str, str]] = field(default_factory=list)
    error: MappingError | None = None
    end_line: int = 0


class _Handler(ContentHandler):
    """Collects each ``seizure`` as cells and person cells, with its lines; no values kept
    anywhere else, and none in an error."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[_Record] = []
        self._locator: Locator | None = None
        self._path: list[str] = []
        self._text: list[str] = []
        self._record: _Record | None = None

    def setDocumentLocator(self, locator: Locator) -> None:  # noqa: N802 - SAX's name
        self._locator = locator

    def _line(self) -> int:
        return (self._locator.getLineNumber() or 0) if self._locator else 0

    def _fail(self, where: str, reason: str) -> None:
        if self._record is not None and self._record.error is None:
            self._record.error = MappingError(where, reason)

    def startElementNS(  # noqa: N802 - SAX's name
        self, name: tuple[str | None, str], _qname: str | None, _attrs: AttributesNSImpl
    ) -> None:
        namespace, local = name
        depth = len(self._path)
        self._path.append(local)
        self._text = []
        if depth == 0:
            if (namespace, local) != (NAMESPACE, _ROOT):
                raise MappingError("document", f"the root must be {_ROOT} in {NAMESPACE}")
        elif namespace != NAMESPACE:
            self._fail(local, "is not in the CEN export namespace")
        elif depth == 1:
            if local != _SEIZURE:
                raise MappingError(local, f"line {self._line()}: only {_SEIZURE} may be here")
            self._record = _Record(line=self._line())
        elif self._record is not None:
            self._check_field(self._record, depth, local)

    def _check_field(self, record: _Record, depth: int, local: str) -> None:
        """A child of ``seizure`` (depth 2) or of one of its ``person`` elements (depth 3)."""
        if depth == 2:
            if local == _PERSON:
                record.persons.append({})
            elif local not in _SEIZURE_FIELDS:
                self._fail(local, "is not an element of a CEN export seizure")
            elif local in record.cells:
                self._fail(local, "appears twice")
        elif depth == 3 and self._path[2] == _PERSON:
            where = f"person {len(record.persons)}: {local}"
            if local not in _PERSON_FIELDS:
                self._fail(where, "is not a person element")
            elif local in record.persons[-1]:
                self._fail(where, "appears twice")
        else:
            self._fail("/".join(self._path[2:]), "is nested too deep")

    def characters(self, content: str) -> None:
        self._text.append(content)

    def endElementNS(self, name: tuple[str | None, str], _qname: str | None) -> None:  # noqa: N802
        local = name[1]
        depth = len(self._path) - 1
        self._path.pop()
        text, self._text = "".join(self._text), []
        record = self._record
        if record is None:
            return
        if depth == 1:
            record.end_line = self._line()
            self.records.append(record)
            self._record = None
        elif depth == 2 and local in _SEIZURE_FIELDS:
            record.cells.setdefault(local, text)
        elif depth == 3 and local in _PERSON_FIELDS and record.persons:
            record.persons[-1].setdefault(local, text)


def read_xml_export(
    text: str, *, ingest_time: datetime, defaults: CenDefaults | None = None
) -> Iterator[RowResult]:
    """Each ``seizure`` of an XML export as an event or a rejection naming its line and field.

    A document that is not well-formed, or carries a DTD or entities, is rejected whole: one
    result on line 1 spanning the file, with the line where parsing stopped in the reason.
    """
    handler = _Handler()
    whole = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    try:
        # Entities and external references are refused by default; a DTD is refused too.
        parser = DefusedExpatParser(forbid_dtd=True)
        parser.setFeature(feature_namespaces, True)
        parser.setContentHandler(handler)
        # Read as the UTF-8 it was decoded from, whatever encoding the declaration names (a
        # made-up one would otherwise escape the parser as a LookupError).
        source = InputSource()
        source.setByteStream(io.BytesIO(text.encode("utf-8")))
        source.setEncoding("utf-8")
        parser.parse(source)
    except SAXParseException as exc:
        reason = f"is not well-formed XML: line {exc.getLineNumber()}: {exc.getMessage()}"
        yield RowResult(1, "", None, MappingError("document", reason), end_line=whole)
        return
    except DefusedXmlException:
        reason = "carries a DTD or entity declarations, which a CEN export may not"
        yield RowResult(1, "", None, MappingError("document", reason), end_line=whole)
        return
    except MappingError as exc:
        yield RowResult(1, "", None, exc, end_line=whole)
        return
    for record in handler.records:
        record_id = record.cells.get("record_id", "").strip()
        try:
            if record.error is not None:
                raise record.error
            persons: list[Person] = [
                person_of(cells, f"person {number}: ")
                for number, cells in enumerate(record.persons, start=1)
            ]
            event = event_from_row(
                record.cells, persons, ingest_time=ingest_time, defaults=defaults or CenDefaults()
            )
        except MappingError as exc:
            yield RowResult(record.line, record_id, None, exc, end_line=record.end_line)
        else:
            yield RowResult(record.line, record_id, event, None, end_line=record.end_line)
