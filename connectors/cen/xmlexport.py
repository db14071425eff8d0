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
import itertools
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO
from xml.sax import SAXParseException
from xml.sax.expatreader import ExpatLocator
from xml.sax.handler import (
    ContentHandler,
    feature_namespaces,
)
from xml.sax.xmlreader import AttributesNSImpl, Locator

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from connectors.cen.format import (
    ORIGINAL_LIMIT,
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
    text: str = ""  # its own lines, once finished
    cut: bool = False


class _Handler(ContentHandler):
    """Collects each ``seizure`` as cells and person cells, with its lines; no values kept
    anywhere else, and none in an error."""

    def __init__(self) -> None:
        super().__init__()
        self.records: deque[_Record] = deque()  # finished, not yet taken
        self._locator: Locator | None = None
        self._path: list[str] = []
        self._text: list[str] = []
        self._record: _Record | None = None

    @property
    def open_line(self) -> int | None:
        """The first line of the seizure being read, if one is."""
        return self._record.line if self._record is not None else None

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
    source: TextIO | str, *, ingest_time: datetime, defaults: CenDefaults | None = None
) -> Iterator[RowResult]:
    """Each ``seizure`` of an XML export as an event or a rejection naming its line and field.

    ``source`` is a seekable text stream opened with ``newline=""`` (or a string); it is read
    twice, a line at a time, so memory does not grow with the document: once to check the
    document, then for its seizures. A document that is not well-formed, or carries a DTD or
    entities, is rejected whole before any seizure is read: one result on line 1 spanning
    the file, with the line where parsing stopped in the reason.
    """
    stream = io.StringIO(source, newline="") if isinstance(source, str) else source
    start = stream.tell()
    parsed = _Parsed(stream)
    try:
        for _record in parsed:
            pass
    except _NotAnExportError as exc:
        whole = parsed.lines + _lines_left(stream, parsed.in_line)
        stream.seek(start)
        text, cut = _beginning(stream)
        yield RowResult(1, "", None, exc.error, max(1, whole), text, cut)
        return
    stream.seek(start)
    for record in _Parsed(stream):
        record_id = record.cells.get("record_id", "").strip()
        text, cut = record.text, record.cut
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
            yield RowResult(record.line, record_id, None, exc, record.end_line, text, cut)
        else:
            yield RowResult(record.line, record_id, event, None, record.end_line, text, cut)


def _beginning(stream: TextIO) -> tuple[str, bool]:
    """The text of a document rejected whole, as far as a result keeps it."""
    beginning = stream.read(ORIGINAL_LIMIT + 1)
    lines = beginning.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    return lines[:ORIGINAL_LIMIT], len(beginning) > ORIGINAL_LIMIT


def _lines_left(stream: TextIO, last_line_open: bool) -> int:
    """How many lines the rest of the stream begins (a piece at a time)."""
    count, in_line, after_cr = 0, last_line_open, False
    for read in _pieces(stream):
        piece = read[1:] if after_cr and read.startswith("\n") else read
        after_cr = piece.endswith("\r")
        if not piece:
            continue
        count += 0 if in_line else 1
        in_line = not piece.endswith(("\n", "\r"))
    return count


class _NotAnExportError(Exception):
    def __init__(self, error: MappingError) -> None:
        super().__init__(error.reason)
        self.error = error


class _Parser(DefusedExpatParser):
    """Entities and external references refused (the defused default), a DTD refused too,
    and the bytes read as the UTF-8 they were decoded from, whatever encoding the
    declaration names (a made-up one would otherwise escape the parser as a LookupError)."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=True)
        self.setFeature(feature_namespaces, True)
        # The input source ``feed`` creates its expat parser from (``parse`` would set one).
        self._source.setEncoding("utf-8")  # type: ignore[attr-defined] # ExpatParser sets it


# Lines held back, when no seizure is open, for one whose start tag spans lines.
_LOOKBACK_LINES = 16
# Characters read and fed to the parser at a time: a long line (a document written on one
# line) goes in pieces, never whole.
_PIECE = 64 * 1024


def _pieces(stream: Iterable[str]) -> Iterator[str]:
    """The stream's text a line at a time, a long line in pieces of at most _PIECE."""
    read = getattr(stream, "readline", None)
    if read is None:
        yield from stream
        return
    while piece := read(_PIECE):
        yield piece


class _Parsed:
    """The seizures of a document in order, each with its own lines, as it is fed a line
    (or a piece of a long one) at a time; the lines held are those of the seizure open (at
    most ORIGINAL_LIMIT characters of it) and a few before. Raises
    :class:`_NotAnExportError` where the document stops being a CEN export."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.lines = 0
        self._held: deque[str] = deque()
        self._first = 1  # the number of the first line held
        self._held_chars = 0
        self._cut: set[int] = set()  # lines held in part only (the rest was too long)
        self.in_line = False  # the last piece did not end its line
        self._after_cr = False  # ...or ended it with a CR whose LF may come next

    def __iter__(self) -> Iterator[_Record]:
        handler = _Handler()
        parser = _Parser()
        parser.setContentHandler(handler)
        handler.setDocumentLocator(ExpatLocator(parser))
        try:
            for piece in _pieces(self._stream):
                self._hold(piece)
                parser.feed(piece.encode("utf-8"))
                yield from self._finished(handler)
                self._forget(handler)
            parser.close()
            yield from self._finished(handler)
        except SAXParseException as exc:
            reason = f"is not well-formed XML: line {exc.getLineNumber()}: {exc.getMessage()}"
            raise _NotAnExportError(MappingError("document", reason)) from None
        except DefusedXmlException:
            reason = "carries a DTD or entity declarations, which a CEN export may not"
            raise _NotAnExportError(MappingError("document", reason)) from None
        except MappingError as exc:
            raise _NotAnExportError(exc) from None

    def _hold(self, piece: str) -> None:
        if self._after_cr and piece.startswith("\n"):  # a CRLF split between two pieces
            piece = piece[1:]
        self._after_cr = piece.endswith("\r")
        if not piece:
            return
        text = piece.rstrip("\r\n")
        if not self.in_line:
            self.lines += 1
            self._held.append("")
        self.in_line = not piece.endswith(("\n", "\r"))
        room = max(0, ORIGINAL_LIMIT - self._held_chars)
        if len(text) > room:  # the record's dead letter keeps its beginning; the archive, all
            text = text[:room]
            self._cut.add(self.lines)
        self._held[-1] += text
        self._held_chars += len(text)

    def _finished(self, handler: _Handler) -> Iterator[_Record]:
        while handler.records:
            record = handler.records.popleft()
            first, last = record.line, max(record.line, record.end_line)
            lines = list(itertools.islice(self._held, first - self._first, last - self._first + 1))
            cut = any(first <= line <= last for line in self._cut)
            # A first line held in part (a document on one line) does not show where the
            # record begins in it: no text rather than another record's.
            text = "" if first in self._cut else "\n".join(lines)
            if len(text) > ORIGINAL_LIMIT:
                text, cut = text[:ORIGINAL_LIMIT], True
            record.text, record.cut = text, cut
            yield record

    def _forget(self, handler: _Handler) -> None:
        """Let go of the lines before the open seizure (or, with none open, all but the
        last few)."""
        keep = handler.open_line or max(1, self.lines - _LOOKBACK_LINES + 1)
        while self._first < keep and len(self._held) > 1:
            self._held_chars -= len(self._held.popleft())
            self._cut.discard(self._first)
            self._first += 1
