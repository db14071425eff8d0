"""The source contract on the real broker: one runner validates, encodes and produces a
task's records, waits for Kafka, and only then lets the task record a position."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.contract import Checkpoint, Decision, SourceRecord, SourceRunner, SourceTask
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.errors import MappingError
from liaison.kafka.client import KafkaConsumer, KafkaProducer, consumer_config, producer_config
from liaison.kafka.topics import DEAD_LETTERS, INGEST_CEN
from stack.synthetic.generator import Label, TrafficGenerator

pytestmark = pytest.mark.integration


class _ListTask(SourceTask):
    """Reads a fixed list once; at each commit, notes how many records Kafka has confirmed
    and how many are still on their way."""

    name = "list-source"

    def __init__(self, records: list[SourceRecord], count_on_kafka: Any) -> None:
        self.records, self.count_on_kafka = records, count_on_kafka
        self.commits: list[tuple[Any, int, int]] = []  # (position, confirmed, in flight)
        self.decisions: list[Decision] = []
        self._done = False

    def poll(self, stop: threading.Event) -> Iterator[SourceRecord | Checkpoint]:
        if self._done:
            return
        self._done = True
        yield from self.records
        yield Checkpoint("end")

    def decided(self, decision: Decision) -> None:
        self.decisions.append(decision)

    def commit(self, position: Any) -> None:
        self.commits.append((position, *self.count_on_kafka()))

    def field_name(self, path: str) -> str:
        return "their." + path


def test_positions_are_committed_only_for_what_kafka_has(declared_topics):
    settings = declared_topics
    ingest, dead = (
        INGEST_CEN.full_name(settings.topic_prefix),
        DEAD_LETTERS.full_name(settings.topic_prefix),
    )
    made = [r for r in TrafficGenerator(seed=5).take(3000) if r.event is not None]
    # 230 records, a few of them with invalid values among the others (where the generator
    # happens to put them does not matter here).
    bad = [r for r in made if r.label is Label.INVALID_VALUES][:3]
    generated = [r for r in made if r.label is not Label.INVALID_VALUES][: 230 - len(bad)]
    for at, record in zip((20, 100, 180), bad, strict=False):
        generated.insert(at, record)
    records = [
        SourceRecord(original=r.value, place="list:batch", line=n, event=r.event)
        for n, r in enumerate(generated, 1)
    ]
    broken = SourceRecord(
        original=b"row text",
        place="list:batch",
        line=231,
        error=MappingError("qty", "not a number"),
    )
    records.insert(40, broken)
    records = [dataclasses.replace(r, position=n) for n, r in enumerate(records, 1)]
    invalid = sum(1 for r in generated if r.label is Label.INVALID_VALUES)
    assert invalid > 0

    producer = KafkaProducer(producer_config(settings))
    task = _ListTask(records, lambda: (producer.delivered, len(producer)))
    runner = SourceRunner(
        task, ingest_topic=ingest, dead_letter_topic=dead, producer=producer, checkpoint_every=50
    )
    stop = threading.Event()
    worker = threading.Thread(target=runner.run, args=(stop, 0.2))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(task.commits) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=60)

    # Every 50 records and at the checkpoint the task asked for; each time, Kafka had
    # confirmed every record up to that position and none was still on its way.
    assert [position for position, _, _ in task.commits] == [50, 100, 150, 200, "end"]
    for position, confirmed, in_flight in task.commits:
        assert confirmed == (len(records) if position == "end" else position)
        assert in_flight == 0

    # Rejections became dead letters of the runner's own making: the original bytes, the
    # kind, the reason in the sender's field names.
    rejected = [d for d in task.decisions if not d.accepted]
    assert {d.kind for d in rejected} == {"MappingError", "ValidationError"}
    assert len(rejected) == invalid + 1
    invalid_fields = [f for d in rejected if d.kind == "ValidationError" for f, _ in d.errors]
    assert invalid_fields
    assert all(field.startswith("their.") for field in invalid_fields)
    letters, events = AvroCodec(DEAD_LETTER_SCHEMA), AvroCodec(EVENT)
    seen_dead, seen_events = [], []
    with KafkaConsumer(consumer_config(settings, "list-source-check"), [ingest, dead]) as reader:
        for _ in range(60):
            for message in reader.consume(500, timeout_s=0.5):
                if message.topic() == dead:
                    seen_dead.append(letters.decode(message.value() or b""))
                else:
                    seen_events.append(events.decode(message.value() or b""))
            if len(seen_dead) + len(seen_events) >= len(records):
                break
    assert len(seen_events) == len(records) - len(rejected)
    assert len(seen_dead) == len(rejected)
    mapping = next(d for d in seen_dead if d["error_class"] == "MappingError")
    assert (mapping["original_value"], mapping["source_topic"], mapping["source_offset"]) == (
        b"row text",
        "list:batch",
        231,
    )
    assert mapping["error_message"] == "qty: not a number"
