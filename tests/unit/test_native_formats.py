"""The connectors' native formats: what the generator writes, the mappings read back."""

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connectors.cen.format import (
    LINE_LIMIT,
    SEIZURE_COLUMNS,
    physical_lines,
    read_export,
    seizure_row,
    write_export,
)
from connectors.cisplus import format as cisplus
from connectors.police import format as police
from liaison.errors import MappingError
from liaison.identity import event_id_for
from liaison.model.common import Event, Lineage, SourceSystem
from liaison.model.customs import Seizure
from stack.native import write_native
from stack.synthetic.generator import Label, TrafficGenerator
from tests.samples import realistic_seizure

INGEST = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _as_ingested(event: Event) -> Event:
    """What a connector makes of an event: the same, but ingested now, with its derived id
    and no lineage inside Liaison yet."""
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
def traffic():
    return TrafficGenerator(seed=21).take(3000)


def _events(traffic, sources):
    return [
        r.event
        for r in traffic
        if r.event is not None
        and r.event.envelope.source_system in sources
        and r.label is not Label.REPLAY
    ]


def test_cen_export_round_trips_every_seizure(traffic):
    events = _events(traffic, {SourceSystem.CEN, SourceSystem.NCEN})
    seizures, persons = write_export(events)
    results = list(read_export(seizures, persons, ingest_time=INGEST))
    assert [r.error for r in results] == [None] * len(events)
    assert [r.event for r in results] == [_as_ingested(e) for e in events]
    assert [r.line for r in results] == list(range(2, len(events) + 2))


def test_a_realistic_nominal_seizure_round_trips():
    event = realistic_seizure()
    seizures, persons = write_export([event])
    assert "Quandry" in persons
    assert "Quandry" not in seizures
    (result,) = read_export(seizures, persons, ingest_time=INGEST)
    assert result.event == _as_ingested(event)


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def _csv(rows, columns=SEIZURE_COLUMNS):
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_bad_rows_are_rejected_with_line_and_field_and_the_rest_goes_on():
    good = seizure_row(realistic_seizure())
    bad_quantity = {**good, "record_id": "R2", "quantity": "a lot"}
    bad_mode = {**good, "record_id": "R3", "transport_mode": "12"}
    no_agency = {**good, "record_id": "R4", "reporting_agency": ""}
    text = _csv([good, bad_quantity, bad_mode, no_agency])
    results = list(read_export(text, None, ingest_time=INGEST))
    assert results[0].error is None
    assert [(r.line, r.record_id, r.error and r.error.field) for r in results[1:]] == [
        (3, "R2", "quantity"),
        (4, "R3", "transport_mode"),
        (5, "R4", "reporting_agency"),
    ]
    assert "a lot" not in str(results[1].error)


def test_cen_proper_refuses_persons():
    event = realistic_seizure()
    event = dataclasses.replace(
        event, envelope=dataclasses.replace(event.envelope, source_system=SourceSystem.CEN)
    )
    seizures, persons = write_export([event])
    (result,) = read_export(seizures, persons, ingest_time=INGEST)
    assert result.error is not None
    assert "non-nominal" in result.error.reason


def test_a_file_without_the_key_columns_is_rejected_whole():
    results = list(read_export("a,b\n1,2\n", None, ingest_time=INGEST))
    assert [r.error and r.error.field for r in results] == ["header"]


def test_extra_cells_are_rejected():
    text = _csv([seizure_row(realistic_seizure())]).rstrip("\n") + ",surplus\n"
    (result,) = read_export(text, None, ingest_time=INGEST)
    assert result.error is not None
    assert result.error.field == "row"


@pytest.mark.parametrize(
    ("fmt", "sources"),
    [
        (cisplus, {SourceSystem.CIS_PLUS}),
        (police, {SourceSystem.POLICE}),
    ],
)
def test_json_bodies_round_trip(traffic, fmt, sources):
    events = _events(traffic, sources)
    assert events
    for event in events:
        body = json.loads(json.dumps(fmt.body_of(event)))
        assert fmt.event_of(body, ingest_time=INGEST) == _as_ingested(event)


def _cis_body(traffic):
    return cisplus.body_of(_events(traffic, {SourceSystem.CIS_PLUS})[0])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("record_id"), "record_id"),
        (lambda b: b.update(version=0), "version"),
        (lambda b: b.update(version="2"), "version"),
        (lambda b: b.update(surprise=1), "surprise"),
        (lambda b: b.update(event_time="2026-11-20T06:15:00"), "event_time"),
        (lambda b: b["handling"].update(tlp="PINK"), "handling.tlp"),
        (
            lambda b: b["record"]["items"][0]["quantity"].update(amount="many"),
            "record.items[0].quantity.amount",
        ),
        (lambda b: b["record"].pop("case_reference"), "record.case_reference"),
    ],
)
def test_json_errors_name_the_path(traffic, change, field):
    body = json.loads(json.dumps(_cis_body(traffic)))
    change(body)
    with pytest.raises(MappingError) as caught:
        cisplus.event_of(body, ingest_time=INGEST)
    assert caught.value.field == field


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(MappingError, match="JSON object"):
        police.event_of([1, 2], ingest_time=INGEST)


def test_native_output_reads_back_as_the_generated_events(tmp_path):
    records = TrafficGenerator(seed=8).take(1500)
    written = write_native(records, tmp_path, batch_size=400)
    assert sum(written.values()) == len(records)

    read_back = []
    rejected = 0
    for seizures in sorted((tmp_path / "cen" / "inbox").glob("*.seizures.csv")):
        persons = seizures.with_name(seizures.name.replace(".seizures.", ".persons."))
        for result in read_export(seizures.read_text(), persons.read_text(), ingest_time=INGEST):
            if result.error is None:
                read_back.append(result.event)
            else:
                rejected += 1
    for folder, fmt in (("cisplus", cisplus), ("police", police)):
        for line in (
            (tmp_path / folder / ("records.jsonl" if folder == "cisplus" else "alerts.jsonl"))
            .read_text()
            .splitlines()
        ):
            try:
                read_back.append(fmt.event_of(json.loads(line), ingest_time=INGEST))
            except (json.JSONDecodeError, MappingError):
                rejected += 1
    expected = [_as_ingested(r.event) for r in records if r.event is not None]
    missing = set(map(repr, expected)) - set(map(repr, read_back))
    assert not missing, sorted(missing)[0]
    assert sorted(map(repr, read_back)) == sorted(map(repr, expected))
    assert rejected == sum(1 for r in records if r.label is Label.MALFORMED_BYTES)


@hypothesis_settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["\n", "\r\n"]), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_csv_line_numbers_are_the_files_physical_lines(shapes):
    """A quoted cell may hold line breaks: a row's line is where it starts in the file, as
    an editor shows it, and its text for a dead letter is every line it spans."""
    good = seizure_row(realistic_seizure())
    rows, starts, line = [], [], 2
    for n, (breaks, newline, broken) in enumerate(shapes):
        place = "quay" + "".join(f"{newline}part {k}" for k in range(breaks))
        row = {**good, "record_id": f"R{n}", "place_description": place}
        if broken:
            row["quantity"] = "a lot"
        rows.append(row)
        starts.append((line, line + breaks))
        line += 1 + breaks
    text = _csv(rows)
    results = list(read_export(text, None, ingest_time=INGEST))
    assert [r.lines for r in results] == starts
    physical = physical_lines(text)
    for result, row in zip(results, rows, strict=True):
        first, last = result.lines
        record_text = "\n".join(physical[first - 1 : last])
        assert row["record_id"] in record_text
        assert record_text.count("part ") == row["place_description"].count("part ")


def test_a_row_carries_its_own_lines_as_the_file_has_them():
    """The text a dead letter keeps is the row's physical lines, blank lines before it
    not included."""
    good = seizure_row(realistic_seizure())
    text = _csv([good, {**good, "record_id": "R2", "place_description": "quay\nberth 4"}])
    text = _with_blank_lines(text)
    first, second = read_export(text, None, ingest_time=INGEST)
    physical = physical_lines(text)
    for result in (first, second):
        start, end = result.lines
        assert result.text == "\n".join(physical[start - 1 : end])
        assert result.text.strip()  # not a blank line
    assert "berth 4" in second.text


def _with_blank_lines(text: str) -> str:
    header, *rows = text.split("\n", 1)
    return header + "\n\n\n" + rows[0]


def test_a_cell_past_the_csv_readers_limit_ends_the_file_with_a_rejection():
    """The CSV reader gives up on a cell over its limit: the rows before it are read, the
    file ends there with a rejection naming the line, nothing is raised past the reader."""
    good = seizure_row(realistic_seizure())
    huge = {**good, "record_id": "R2", "place_description": "x" * (csv.field_size_limit() + 1)}
    text = _csv([good, huge, {**good, "record_id": "R3"}])
    results = list(read_export(text, None, ingest_time=INGEST))
    assert results[0].error is None
    assert [(r.line, r.error and r.error.field) for r in results[1:]] == [(3, "file")]
    assert "not read" in str(results[1].error)


def test_an_export_is_read_as_a_stream():
    """The first row is decided before the reader has taken the rest of the file."""
    good = seizure_row(realistic_seizure())
    text = _csv([{**good, "record_id": f"R{n}"} for n in range(500)])
    stream = _CountingStream(text)
    rows = read_export(stream, None, ingest_time=INGEST)
    first = next(rows)
    assert first.error is None
    assert stream.taken < 10
    assert sum(1 for _ in rows) == 499


class _CountingStream:
    """A text stream's lines, counted as they are taken."""

    def __init__(self, text: str) -> None:
        self._lines = io.StringIO(text, newline="")
        self.taken = 0

    def __iter__(self) -> "_CountingStream":
        return self

    def __next__(self) -> str:
        self.taken += 1
        return next(self._lines)


@hypothesis_settings(max_examples=40)
@given(
    st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_each_seizure_gets_its_own_persons_in_any_order_of_the_persons_file(counts, rnd):
    """The persons file is indexed, not read in step with the seizures: persons listed in
    any order reach their own seizure, each once."""
    seizure = realistic_seizure()
    payload = seizure.payload
    assert isinstance(payload, Seizure)
    events = []
    for n, count in enumerate(counts):
        persons = tuple(
            dataclasses.replace(payload.persons[0], family_name=f"Family{n}x{k}")
            for k in range(count)
        )
        events.append(
            dataclasses.replace(
                seizure,
                envelope=dataclasses.replace(seizure.envelope, source_record_id=f"R{n}"),
                payload=dataclasses.replace(payload, persons=persons),
            )
        )
    seizures, persons_text = write_export(events)
    header, *person_lines = persons_text.splitlines()
    rnd.shuffle(person_lines)
    person_lines += person_lines[:1]  # a resend of one person
    shuffled = "\n".join([header, *person_lines]) + "\n"
    results = list(read_export(seizures, shuffled, ingest_time=INGEST))
    for n, (count, result) in enumerate(zip(counts, results, strict=True)):
        if count == 0:  # a seizure without persons: a non-nominal row, or rejected as such
            continue
        assert result.event is not None, result.error
        read = result.event.payload
        assert isinstance(read, Seizure)
        names = sorted(p.family_name or "" for p in read.persons)
        assert names == [f"Family{n}x{k}" for k in range(count)]


def test_a_line_past_the_bound_ends_the_file_without_being_held():
    """A physical line longer than any row could be (a file with no line breaks, say) is
    not read whole: the rows before it are read, the file ends there with a rejection."""
    good = seizure_row(realistic_seizure())
    text = _csv([good]) + ",".join(["x" * 1000] * (LINE_LIMIT // 1000 + 5)) + "\n"
    text += _csv([{**good, "record_id": "AFTER"}]).split("\n", 1)[1]
    results = list(read_export(text, None, ingest_time=INGEST))
    assert results[0].error is None
    (stopped,) = results[1:]
    assert stopped.line == 3
    assert stopped.error is not None
    assert "longer than" in stopped.error.reason
    assert stopped.cut
