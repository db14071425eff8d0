"""The CEN source against real files and the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.kafka.client import KafkaConsumer, consumer_config
from liaison.kafka.embedded import read_log_tail
from liaison.kafka.topics import DEAD_LETTERS, INGEST_CEN
from liaison.model.common import SourceSystem
from stack.native import write_native
from stack.synthetic.generator import Label, SyntheticRecord, TrafficGenerator
from tests.integration.conftest import liaison_command, liaison_env

pytestmark = pytest.mark.integration


def _start(settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            liaison_command("connector", "run", "cen-source"),
            env=liaison_env(settings),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _read(settings, group: str, until, limit_s: float = 120.0):
    events, letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)
    keys: Counter[tuple[str, int]] = Counter()
    dead: list[dict[str, object]] = []
    topics = [
        INGEST_CEN.full_name(settings.topic_prefix),
        DEAD_LETTERS.full_name(settings.topic_prefix),
    ]
    deadline = time.monotonic() + limit_s
    with KafkaConsumer(consumer_config(settings, group), topics) as consumer:
        while time.monotonic() < deadline:
            for message in consumer.consume(500, timeout_s=0.5):
                if message.topic() == topics[0]:
                    envelope = events.decode(message.value() or b"")["envelope"]
                    keys[(envelope["source_record_id"], envelope["version"])] += 1
                else:
                    dead.append(letters.decode(message.value() or b""))
            if until(keys, dead):
                return keys, dead
    raise AssertionError(f"not all rows arrived: {len(keys)} events, {len(dead)} dead letters")


def test_rows_become_events_bad_rows_dead_letters_and_a_kill_loses_nothing(
    declared_topics, tmp_path
):
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    settings = declared_topics.model_copy(update={"cen_inbox": inbox, "cen_archive": archive})
    records = [
        r
        # Large enough that the kill below lands mid-file, however fast the source reads.
        for r in TrafficGenerator(seed=61).take(8000)
        if (r.event or r.basis) is not None
        and (r.event or r.basis).envelope.source_system  # type: ignore[union-attr]
        in (SourceSystem.CEN, SourceSystem.NCEN)
        and r.label is not Label.REPLAY
    ]
    native = tmp_path / "native"
    write_native(records, native, batch_size=len(records))
    (source_file,) = sorted((native / "cen" / "inbox").glob("*.seizures.csv"))
    expected = {
        (r.event.envelope.source_record_id, r.event.envelope.version)
        for r in records
        if r.event is not None and r.label is not Label.INVALID_VALUES
    }
    broken = sum(1 for r in records if r.label in (Label.MALFORMED_BYTES, Label.INVALID_VALUES))
    assert len(expected) > 500
    assert broken > 5

    log = tmp_path / "source.log"
    source = _start(settings, log)
    try:
        inbox.mkdir(parents=True, exist_ok=True)
        # Persons first, each written whole under another name then renamed, as the
        # source's contract asks of a national system.
        for part in sorted(source_file.parent.glob("batch-0001.*")):  # persons < seizures
            partial = inbox / f"{part.name}.part"
            partial.write_bytes(part.read_bytes())
            partial.rename(inbox / part.name)
        # Kill it hard once some rows are in Kafka, well before the end of the file.
        _read(settings, "check-cen-early", lambda keys, _dead: len(keys) > 150)
        source.kill()
        source.wait(timeout=30)
        assert not (archive / "batch-0001.result.json").exists(), "finished before the kill"
        source = _start(settings, log)
        keys, dead = _read(
            settings,
            "check-cen-all",
            lambda keys, dead: expected <= set(keys) and len(dead) >= broken,
        )
    finally:
        source.send_signal(signal.SIGTERM)
        source.wait(timeout=60)

    assert set(keys) == expected, read_log_tail(log)  # every row, none made up
    assert max(keys.values()) <= 2  # a row may come twice after the kill, never be skipped
    assert len({(d["source_topic"], d["source_offset"]) for d in dead}) == broken
    report = json.loads((archive / "batch-0001.result.json").read_text())
    assert report["accepted"] == len(expected)
    assert len(report["rejected"]) == broken
    assert all({"line", "record_id", "reason"} <= set(r) for r in report["rejected"])
    assert not list(inbox.glob("*.csv"))
    assert (archive / "batch-0001.seizures.csv").exists()
    # The persons index a killed run left behind was replaced, and removed at the end.
    assert not list(archive.glob(".*.persons.db"))


def test_xml_exports_and_a_broken_document(declared_topics, tmp_path):
    from connectors.cen.source import CenSource  # noqa: PLC0415

    archive = tmp_path / "archive"
    records = [
        r
        for r in TrafficGenerator(seed=62).take(1200)
        if (r.event or r.basis) is not None
        and (r.event or r.basis).envelope.source_system  # type: ignore[union-attr]
        in (SourceSystem.CEN, SourceSystem.NCEN)
        and r.label is not Label.REPLAY
    ]
    write_native(records, tmp_path, batch_size=len(records), cen_format="xml")
    inbox = tmp_path / "cen" / "inbox"
    (export,) = sorted(inbox.glob("*.xml"))
    broken_doc = inbox / "batch-0002.seizures.xml"
    broken_doc.write_text(export.read_text()[:5000])  # cut off mid-document
    expected = {
        (r.event.envelope.source_record_id, r.event.envelope.version)
        for r in records
        if r.event is not None and r.label not in (Label.INVALID_VALUES, Label.MALFORMED_BYTES)
    }
    broken = sum(1 for r in records if r.label in (Label.MALFORMED_BYTES, Label.INVALID_VALUES))
    assert broken > 2

    source = CenSource(declared_topics, inbox=inbox, archive=archive)
    try:
        first = source.process(export)
        second = source.process(broken_doc)
    finally:
        source.producer.close()
    assert first is not None
    assert second is not None
    assert (first.accepted, len(first.rejected)) == (len(expected), broken)
    assert second.accepted == 0
    assert [r["line"] for r in second.rejected] == [1]
    assert "not well-formed" in str(second.rejected[0]["reason"])

    keys, dead = _read(
        declared_topics,
        "check-cen-xml",
        lambda keys, dead: expected <= set(keys) and len(dead) >= broken + 1,
    )
    assert set(keys) == expected
    by_file: dict[str, list[dict[str, object]]] = {}
    for letter in dead:
        by_file.setdefault(str(letter["source_topic"]), []).append(letter)
    rows = by_file["cen-source:batch-0001.seizures.xml"]
    assert len(rows) == broken
    lines = (archive / export.name).read_text().splitlines()
    for letter in rows:  # each carries its own seizure element, from its first line
        original = letter["original_value"]
        assert isinstance(original, bytes)
        text = original.decode()
        assert text.strip().startswith("<seizure>")
        assert text.strip().endswith("</seizure>")
        assert lines[int(letter["source_offset"]) - 1].strip() == "<seizure>"  # type: ignore[call-overload]
    (whole,) = by_file["cen-source:batch-0002.seizures.xml"]
    assert whole["original_value"] == (archive / broken_doc.name).read_bytes().rstrip(b"\n")
    report = json.loads((archive / "batch-0002.result.json").read_text())
    assert report["accepted"] == 0


def test_files_that_may_not_be_read_are_refused_whole_and_a_batch_is_never_taken_twice(
    declared_topics, tmp_path
):
    from connectors.cen.source import CenSource  # noqa: PLC0415

    records = [
        r
        for r in TrafficGenerator(seed=63).take(400)
        if r.event is not None
        and r.event.envelope.source_system in (SourceSystem.CEN, SourceSystem.NCEN)
        and r.label is Label.SEIZURE
    ][:20]
    write_native(records, tmp_path / "native", batch_size=len(records))
    (export,) = sorted((tmp_path / "native" / "cen" / "inbox").glob("*.seizures.csv"))
    content = export.read_bytes()
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    inbox.mkdir()
    secret = tmp_path / "environ"
    secret.write_bytes(b"LIAISON_PERSON_KEY=not-for-anyone\n")
    linked = inbox / "batch-0001.seizures.csv"
    linked.symlink_to(secret)
    big = inbox / "batch-0002.seizures.csv"
    big.write_bytes(content)
    fifo = inbox / "batch-0004.seizures.csv"
    os.mkfifo(fifo)
    good = inbox / "batch-0003.seizures.csv"
    good.write_bytes(content[: len(content) // 2].rsplit(b"\n", 1)[0] + b"\n")
    cap = len(good.read_bytes()) + 1
    settings = declared_topics.model_copy(update={"cen_max_file_bytes": cap})
    assert len(content) > cap

    source = CenSource(settings, inbox=inbox, archive=archive)
    try:
        results = {path.name: source.process(path) for path in (linked, big, fifo, good)}
        taken = results[good.name]
        assert taken is not None
        assert taken.accepted > 0
        # The same batch again (a resend), then another batch under a name already used.
        again = inbox / good.name
        again.write_bytes(good_bytes := (archive / good.name).read_bytes())
        repeated = source.process(again)
        other = inbox / good.name
        other.write_bytes(good_bytes.replace(b"\n", b"\r\n", 1))
        renamed = source.process(other)
        # A run that stopped after finishing the batch but before archiving it leaves it in
        # the inbox under its finished position: it is archived now, not refused again.
        (archive / good.name).rename(inbox / good.name)
        recovered = source.process(inbox / good.name)
    finally:
        source.producer.close()

    reasons = {
        name: [str(r["reason"]) for r in result.rejected]
        for name, result in [*results.items(), ("again", repeated), ("other", renamed)]
        if result is not None
    }
    assert "symbolic link" in reasons[linked.name][0]
    assert "over the cap" in reasons[big.name][0]
    assert "not a regular file" in reasons[fifo.name][0]
    assert "duplicate batch" in reasons["again"][0]
    assert "duplicate batch" in reasons["other"][0]
    for result in (results[linked.name], results[big.name], repeated, renamed):
        assert result is not None
        assert result.accepted == 0
    # The link itself was archived, never what it points at, which is untouched.
    assert (archive / linked.name).is_symlink()
    assert secret.read_bytes() == b"LIAISON_PERSON_KEY=not-for-anyone\n"
    # Nothing in the archive was overwritten: each copy and each report kept its own name.
    assert (archive / good.name).read_bytes() == good_bytes
    assert (archive / "batch-0003~2.seizures.csv").read_bytes() == good_bytes
    assert (archive / "batch-0003~3.seizures.csv").exists()
    reports = sorted(p.name for p in archive.glob("batch-0003*.result.json"))
    assert reports == [f"batch-0003{n}.result.json" for n in ("", "~2", "~3", "~4")]
    archived = [json.loads((archive / r).read_text())["archived_as"] for r in reports]
    assert archived == [[f"batch-0003{n}.seizures.csv"] for n in ("", "~2", "~3", "")]

    keys, dead = _read(
        declared_topics,
        "check-cen-refused",
        lambda keys, dead: sum(keys.values()) >= taken.accepted and len(dead) >= 5,
    )
    assert max(keys.values()) == 1  # the batch was taken in once
    assert recovered is not None
    assert (recovered.accepted, recovered.rejected) == (0, [])
    assert (archive / good.name).read_bytes() == good_bytes
    refused = [d for d in dead if d["error_class"] == "FileRefused"]
    assert len(refused) == 5  # the link, the big file, the FIFO and the two repeats
    by_file = {str(d["source_topic"]).removeprefix("cen-source:"): d for d in refused}
    assert set(by_file) == {linked.name, big.name, fifo.name, good.name}
    assert by_file[linked.name]["original_value"] == b""  # the link's target was never read
    assert b"not-for-anyone" not in b"".join(bytes(d["original_value"]) for d in dead)
    assert bytes(by_file[big.name]["original_value"]) == content


class _KilledError(Exception):
    """Stands for a SIGKILL: the process ends right where it is raised."""


def _seizure_batch(
    tmp_path: Path, *, take: int, count: int
) -> tuple[list[SyntheticRecord], Path, Path, Path]:
    """``count`` generated CEN and nCEN seizures as batch 0001 in a fresh inbox: the
    records, the inbox, the archive (not made yet) and the seizures file."""
    records = [
        r
        for r in TrafficGenerator(seed=64).take(take)
        if r.event is not None
        and r.event.envelope.source_system in (SourceSystem.CEN, SourceSystem.NCEN)
        and r.label is Label.SEIZURE
    ][:count]
    write_native(records, tmp_path / "native", batch_size=len(records))
    (export,) = sorted((tmp_path / "native" / "cen" / "inbox").glob("*.seizures.csv"))
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    inbox.mkdir()
    for part in export.parent.glob("batch-0001.*"):
        (inbox / part.name).write_bytes(part.read_bytes())
    return records, inbox, archive, inbox / export.name


def test_a_kill_just_after_a_position_is_kept_leaves_the_report_whole(declared_topics, tmp_path):
    from connectors.cen.source import CenSource  # noqa: PLC0415

    records, inbox, archive, path = _seizure_batch(tmp_path, take=1500, count=120)

    first = CenSource(declared_topics, inbox=inbox, archive=archive, checkpoint_rows=25)
    keep = first.task.positions.put
    kept = []

    def put_then_die(producer, name, at):
        keep(producer, name, at)
        kept.append(at)
        if len(kept) == 3:  # the third position is in Kafka; nothing after it happens
            raise _KilledError

    first.task.positions.put = put_then_die  # type: ignore[method-assign]
    try:
        with pytest.raises(_KilledError):
            first.process(path)
    finally:
        first.producer.close()
    assert not kept[-1].finished

    second = CenSource(declared_topics, inbox=inbox, archive=archive, checkpoint_rows=25)
    try:
        result = second.process(path)
    finally:
        second.producer.close()
    assert result is not None
    # Every row counted once: none lost between the position and the report, none twice.
    assert result.accepted + len(result.rejected) == len(records)
    report = json.loads((archive / "batch-0001.result.json").read_text())
    assert report["accepted"] == result.accepted


def test_a_row_too_large_for_kafka_is_a_dead_letter_and_the_file_goes_on(declared_topics, tmp_path):
    """A row whose event would be over Kafka's message bound (each cell within the CSV
    reader's limit) is rejected with the reason and dead-lettered, its text cut; the rows
    after it are read, and the source does not stop."""
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    from connectors.cen.format import SEIZURE_COLUMNS, seizure_row  # noqa: PLC0415
    from connectors.cen.source import CenSource  # noqa: PLC0415
    from tests.samples import realistic_seizure  # noqa: PLC0415

    event = realistic_seizure()
    good = seizure_row(event)
    good = {**good, "source_system": "CEN"}  # non-nominal: no persons file needed
    wordy = "é" * 100_000  # 200,000 bytes in UTF-8, within the reader's cell limit
    huge = {
        **good,
        "record_id": "HUGE-1",
        **{c: wordy for c in ("commodity", "concealment", "cover_story", "place_description")},
        "reporting_agency": wordy,
        "vessel_name": wordy,
    }
    rows = [good, huge, {**good, "record_id": "AFTER-1"}]
    out = io.StringIO()
    writer = csv.DictWriter(out, SEIZURE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    inbox.mkdir()
    export = inbox / "batch-0009.seizures.csv"
    export.write_text(out.getvalue(), encoding="utf-8")

    source = CenSource(declared_topics, inbox=inbox, archive=archive)
    try:
        result = source.process(export)
    finally:
        source.producer.close()
    assert result is not None
    assert result.accepted == 2
    (rejected,) = result.rejected
    assert rejected["line"] == 3
    assert "over" in str(rejected["reason"])
    keys, dead = _read(
        declared_topics,
        "check-cen-too-large",
        lambda keys, dead: len(keys) >= 2 and len(dead) >= 1,
    )
    assert {record_id for record_id, _ in keys} == {good["record_id"], "AFTER-1"}
    (letter,) = dead
    assert letter["error_class"] == "EventTooLarge"
    original = letter["original_value"]
    assert isinstance(original, bytes)
    assert 0 < len(original) <= 512 * 1024
    assert "cut" in str(letter["error_message"])


def test_a_file_replaced_under_the_name_of_one_half_read_is_refused(declared_topics, tmp_path):
    """A batch under way (a position short of its end) and, in its place, a file of other
    content under the same name: going on from the stored position would skip the new
    file's first rows unseen. It is refused whole as a duplicate batch instead."""
    from connectors.cen.source import CenSource  # noqa: PLC0415
    from connectors.positions import Position  # noqa: PLC0415

    _records, inbox, archive, replaced = _seizure_batch(tmp_path, take=400, count=12)

    source = CenSource(declared_topics, inbox=inbox, archive=archive)
    try:
        # What an earlier run of another file under this name left: six rows in.
        earlier = Position(7, finished=False, digest="0" * 64)
        source.task.positions.put(source.producer, replaced.name, earlier)
        result = source.process(replaced)
    finally:
        source.producer.close()
    assert result is not None
    assert result.accepted == 0
    (refused,) = result.rejected
    assert "duplicate batch" in str(refused["reason"])
    assert "in part" in str(refused["reason"])
