"""The CEN export as XML: the same data as the CSV pair, read with its lines."""

import dataclasses
import re
from datetime import UTC, datetime

import pytest

from connectors.cen import xmlexport
from connectors.cen.format import ORIGINAL_LIMIT, read_export, write_export
from connectors.cen.xmlexport import NAMESPACE, read_xml_export, write_xml_export
from liaison.identity import event_id_for
from liaison.model.common import Event, Lineage, SourceSystem
from stack.native import write_native
from stack.synthetic.generator import Label, TrafficGenerator
from tests.samples import realistic_seizure

INGEST = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _ingested(event: Event) -> Event:
    envelope = event.envelope
    return dataclasses.replace(
        event,
        envelope=dataclasses.replace(
            envelope,
            ingest_time=INGEST,
            event_id=event_id_for(
                envelope.source_system, envelope.source_record_id, envelope.version
            ),
            lineage=Lineage(),
        ),
    )


@pytest.fixture(scope="module")
def seizures() -> list[Event]:
    return [
        r.event
        for r in TrafficGenerator(seed=31).take(2000)
        if r.event is not None
        and r.event.envelope.source_system in (SourceSystem.CEN, SourceSystem.NCEN)
        and r.label is not Label.REPLAY
    ]


def test_every_seizure_round_trips_and_reads_as_the_csv_does(seizures):
    text = write_xml_export(seizures)
    results = list(read_xml_export(text, ingest_time=INGEST))
    assert [r.error for r in results] == [None] * len(seizures)
    assert [r.event for r in results] == [_ingested(e) for e in seizures]
    csv_events = [r.event for r in read_export(*write_export(seizures), ingest_time=INGEST)]
    assert [r.event for r in results] == csv_events
    assert any(e.payload.persons for e in seizures)


def test_each_record_spans_its_own_lines(seizures):
    text = write_xml_export(seizures[:3])
    lines = text.splitlines()
    results = list(read_xml_export(text, ingest_time=INGEST))
    for result in results:
        first, last = result.lines
        assert lines[first - 1].strip() == "<seizure>"
        assert lines[last - 1].strip() == "</seizure>"
        assert f"<record_id>{result.record_id}</record_id>" in "\n".join(lines[first - 1 : last])
    assert results[0].lines[1] < results[1].lines[0]


def _document(*seizures: str) -> str:
    body = "".join(f"<seizure>{s}</seizure>\n" for s in seizures)
    return f'<?xml version="1.0"?>\n<cen-export xmlns="{NAMESPACE}">\n{body}</cen-export>\n'


def _elements(event: Event, **changes: str) -> str:
    """The seizure's child elements, some changed (an empty value drops the element)."""
    text = write_xml_export([event])
    inner = text.split("<seizure>", 1)[1].rsplit("</seizure>", 1)[0]
    for name, value in changes.items():
        inner = re.sub(
            f"<{name}>[^<]*</{name}>", f"<{name}>{value}</{name}>" if value else "", inner
        )
    return inner


def test_a_bad_seizure_is_rejected_by_line_and_field_and_the_rest_goes_on():
    event = realistic_seizure()
    text = _document(
        _elements(event),
        _elements(event, record_id="R2", quantity="a lot"),
        _elements(event, record_id="R3")
        .replace("<commodity>", "<comodity>", 1)
        .replace("</commodity>", "</comodity>", 1),
        _elements(event, record_id="R4", reporting_agency=""),
    )
    starts = [n for n, line in enumerate(text.splitlines(), 1) if "<seizure>" in line]
    results = list(read_xml_export(text, ingest_time=INGEST))
    assert results[0].error is None
    assert [(r.line, r.record_id, r.error and r.error.field) for r in results[1:]] == [
        (starts[1], "R2", "quantity"),
        (starts[2], "R3", "comodity"),  # misspelt: refused, not silently dropped
        (starts[3], "R4", "reporting_agency"),
    ]
    assert "a lot" not in str(results[1].error)


def test_person_errors_name_the_person():
    event = realistic_seizure()
    inner = _elements(event, category="BYSTANDER")
    (result,) = read_xml_export(_document(inner), ingest_time=INGEST)
    assert result.error is not None
    assert result.error.field == "person 1: category"


def test_a_cen_record_with_a_person_is_refused():
    event = realistic_seizure()
    inner = _elements(event, source_system="CEN")
    (result,) = read_xml_export(_document(inner), ingest_time=INGEST)
    assert result.error is not None
    assert "non-nominal" in result.error.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<seizures/>", "root"),
        (f'<cen-export xmlns="{NAMESPACE}"><seizure>', "not well-formed"),
        (
            f'<!DOCTYPE x [<!ENTITY a "b">]><cen-export xmlns="{NAMESPACE}"></cen-export>',
            "DTD",
        ),
        (f'<cen-export xmlns="{NAMESPACE}"><record/></cen-export>', "only seizure"),
    ],
)
def test_a_document_that_is_not_an_export_is_refused_whole(text, reason):
    (result,) = read_xml_export(text, ingest_time=INGEST)
    assert result.error is not None
    assert reason in str(result.error)
    assert result.lines == (1, text.count("\n") + 1)


def test_the_generator_writes_xml_exports(tmp_path):
    records = TrafficGenerator(seed=9).take(800)
    write_native(records, tmp_path, batch_size=100, cen_format="xml")
    files = sorted((tmp_path / "cen" / "inbox").glob("*"))
    assert files
    assert all(f.name.endswith(".seizures.xml") for f in files)
    results = [r for f in files for r in read_xml_export(f.read_text(), ingest_time=INGEST)]
    broken = len(
        [
            r
            for r in records
            if r.label is Label.MALFORMED_BYTES
            and (r.event or r.basis).envelope.source_system  # type: ignore[union-attr]
            in (SourceSystem.CEN, SourceSystem.NCEN)
        ]
    )
    assert sum(r.error is not None for r in results) == broken
    assert all(r.error is None or r.error.field == "quantity" for r in results)


def test_each_record_carries_its_own_lines_as_text(seizures):
    """What a dead letter keeps of a record: its lines as the document has them, also
    for a start tag over several lines and for line ends of any kind."""
    text = write_xml_export(seizures[:40]).replace("<seizure>", '<seizure\n  \n   id="x">', 7)
    for newline in ("\n", "\r\n", "\r"):
        document = text.replace("\n", newline)
        lines = document.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        results = list(read_xml_export(document, ingest_time=INGEST))
        assert len(results) == 40
        for result in results:
            first, last = result.lines
            assert result.text == "\n".join(lines[first - 1 : last])
            assert result.text.lstrip().startswith("<seizure")
            assert result.text.strip().endswith("</seizure>")
            assert not result.cut


def test_a_document_broken_at_its_end_gives_no_seizure(seizures):
    """The document is checked whole before any seizure is read: one cut short (a writer
    that died) is refused whole, not taken in up to the break."""
    text = write_xml_export(seizures[:30])
    broken = text[: text.rindex("</seizure>")]
    (result,) = read_xml_export(broken, ingest_time=INGEST)
    assert result.error is not None
    assert result.error.field == "document"
    assert result.lines == (1, broken.count("\n") + 1)
    assert result.text.startswith("<?xml")


def test_a_huge_record_keeps_only_the_beginning_of_its_text(seizures):
    """A record over the limit a result keeps is cut, and says so; the records around it
    keep all of theirs."""
    one, two, three = (write_xml_export([e]) for e in seizures[:3])
    inner = [t.split("<seizure>", 1)[1].rsplit("</seizure>", 1)[0] for t in (one, two, three)]
    padding = "\n".join(" " * 100 for _ in range(ORIGINAL_LIMIT // 50))
    document = _document(inner[0], inner[1] + padding, inner[2])
    first, huge, last = read_xml_export(document, ingest_time=INGEST)
    assert huge.error is None
    assert huge.cut
    assert len(huge.text) <= ORIGINAL_LIMIT
    assert huge.text.lstrip().startswith("<seizure>")
    assert not first.cut
    assert not last.cut
    assert last.text.lstrip().startswith("<seizure>")
    assert last.text.endswith("</seizure>")


@pytest.mark.parametrize("piece", [3, 7, 64, 4096])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_document_read_in_pieces_reads_as_read_whole(seizures, piece, newline, monkeypatch):
    """Long lines are fed to the parser in pieces: wherever a piece ends (inside a tag, a
    CRLF split in two), the records, their lines and their text are the same."""
    text = write_xml_export(seizures[:12]).replace("\n", newline)
    whole = list(read_xml_export(text, ingest_time=INGEST))
    monkeypatch.setattr(xmlexport, "_PIECE", piece)
    pieces = list(read_xml_export(text, ingest_time=INGEST))
    assert [(r.lines, r.text, r.event, r.cut) for r in pieces] == [
        (r.lines, r.text, r.event, r.cut) for r in whole
    ]
    broken = text[: text.rindex("</seizure>")]
    (refused,) = read_xml_export(broken, ingest_time=INGEST)
    monkeypatch.setattr(xmlexport, "_PIECE", 64 * 1024)
    (refused_whole,) = read_xml_export(broken, ingest_time=INGEST)
    assert refused.lines == refused_whole.lines


def test_a_document_on_one_line_is_read_without_holding_the_line(seizures):
    """A document with no line breaks (as some systems write XML) is read: every seizure,
    all on line 1. Past what a result keeps of the line, a record's text is left out
    (and said to be cut) rather than given another record's."""
    events = (seizures * 4)[: len(seizures) * 4]
    text = write_xml_export(events)
    one_line = "".join(part.strip() for part in text.splitlines())
    assert "\n" not in one_line
    assert len(one_line) > 2 * ORIGINAL_LIMIT
    bad = re.sub(r"<quantity>[^<]*</quantity>", "<quantity>a lot</quantity>", one_line, count=1)
    results = list(read_xml_export(bad, ingest_time=INGEST))
    assert len(results) == len(events)
    assert [r.event for r in results[1:]] == [_ingested(e) for e in events[1:]]
    assert {r.lines for r in results} == {(1, 1)}
    assert results[0].error is not None
    assert results[0].error.field == "quantity"
    assert results[-1].cut
    assert results[-1].text == ""
