"""The CEN sink: what routing sends to CEN becomes upload files in CEN's export layout.

It gathers records for up to ``max_age_s`` seconds or ``max_rows`` rows, then for each
partition of the CEN partner topic among them writes
``upload-p<partition>-<first offset>-<last offset>.seizures.csv`` to the outbox, under a
temporary name and then renamed, with a ``.manifest.json`` beside it (rows, SHA-256 of the
file, the offsets it covers). Offsets are stored only after both are in place, so a sink
stopped at any moment writes those rows again when it restarts (perhaps cut into other
files: CEN recognises a record by id and version), and never leaves a gap. An event that
still carries personal data is refused, whatever routing did: it goes to the dead-letter
topic, because CEN is non-nominal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Message

from connectors.cen.format import write_export
from connectors.deadletters import record_dead_letter
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER, EVENT
from liaison.errors import SerdeError
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    producer_config,
    resolve_bootstrap,
)
from liaison.kafka.topics import DEAD_LETTER as DEAD_LETTER_TOPIC
from liaison.model import from_avro, to_avro
from liaison.model.common import Event
from liaison.model.customs import Seizure
from liaison.settings import Settings

__all__ = ["CenSink"]

log = logging.getLogger(__name__)
NAME = "cen-sink"


class CenSink:
    def __init__(
        self,
        settings: Settings,
        *,
        topic: str,
        outbox: Path,
        max_rows: int = 1000,
        max_age_s: float = 5.0,
    ) -> None:
        bootstrap = resolve_bootstrap(settings)
        self.outbox = outbox
        self.max_rows, self.max_age_s = max_rows, max_age_s
        self.topic = topic
        self.consumer = KafkaConsumer(
            consumer_config(settings, f"{settings.client_id}-{NAME}", bootstrap), [topic]
        )
        self.producer = KafkaProducer(producer_config(settings, bootstrap))
        self.events, self.letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER)
        self.dead_topic = DEAD_LETTER_TOPIC.full_name(settings.topic_prefix)

    def run(self, stop: threading.Event) -> None:
        """Collect records into files of up to ``max_rows`` rows, each written once it is full
        or its oldest record is ``max_age_s`` old; what is in hand is written on stop."""
        self.outbox.mkdir(parents=True, exist_ok=True)
        pending: list[Message] = []
        oldest = 0.0
        try:
            while not stop.is_set():
                batch = self.consumer.consume(500, timeout_s=0.5)
                if batch and not pending:
                    oldest = time.monotonic()
                pending.extend(batch)
                full = len(pending) >= self.max_rows
                if pending and (full or time.monotonic() - oldest >= self.max_age_s):
                    self.deliver(pending)
                    pending = []
            if pending:
                self.deliver(pending)
        finally:
            self.consumer.close()
            self.producer.close()

    def deliver(self, batch: list[Message]) -> None:
        by_partition: dict[int, list[Message]] = defaultdict(list)
        for message in batch:
            by_partition[message.partition() or 0].append(message)
        for partition, messages in sorted(by_partition.items()):
            events = [e for e in map(self._event, messages) if e is not None]
            if events:
                self._write(
                    partition, messages[0].offset() or 0, messages[-1].offset() or 0, events
                )
            self.producer.flush()  # dead letters are in Kafka before their offsets move
            for message in messages:
                self.consumer.store(message)
        self.consumer.commit()

    def _event(self, message: Message) -> Event | None:
        try:
            event = from_avro(Event, self.events.decode(message.value() or b""))
        except (SerdeError, ValueError, TypeError, KeyError) as exc:
            self._dead_letter(message, type(exc).__name__, str(exc))
            return None
        if not isinstance(event.payload, Seizure):
            self._dead_letter(message, "NotASeizure", "the CEN upload layout carries seizures only")
            return None
        if event.payload.persons or event.envelope.data_subject_categories:
            self._dead_letter(
                message,
                "PersonalDataRefused",
                "CEN is non-nominal: the event carries personal data",
            )
            return None
        return event

    def _write(self, partition: int, first: int, last: int, events: list[Event]) -> None:
        stem = f"upload-p{partition:02d}-{first:012d}-{last:012d}"
        seizures, _persons = write_export(events)
        data = seizures.encode("utf-8")
        target = self.outbox / f"{stem}.seizures.csv"
        partial = target.with_suffix(".csv.part")
        partial.write_bytes(data)
        partial.replace(target)
        manifest = {
            "file": target.name,
            "rows": len(events),
            "sha256": hashlib.sha256(data).hexdigest(),
            "topic": self.topic,
            "partition": partition,
            "first_offset": first,
            "last_offset": last,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        manifest_path = self.outbox / f"{stem}.manifest.json"
        tmp = manifest_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(manifest_path)
        log.info("%s: %d rows", target.name, len(events))

    def _dead_letter(self, message: Message, kind: str, reason: str) -> None:
        letter = record_dead_letter(message, stage=NAME, error_class=kind, reason=reason)
        self.producer.produce(
            self.dead_topic, self.letters.encode(to_avro(letter)), key=message.key()
        )
