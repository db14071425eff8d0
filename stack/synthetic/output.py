"""Where synthetic records go: a JSON-lines file, or the ingest topics at a steady rate."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from typing import IO

from liaison.kafka.client import KafkaProducer
from stack.synthetic.generator import SyntheticRecord

__all__ = ["LABEL_HEADER", "Pacer", "produce", "write_jsonl"]

# Every synthetic record carries its label, so a test or the demo can tell what it was.
LABEL_HEADER = "liaison-synthetic-label"


def write_jsonl(records: Iterable[SyntheticRecord], handle: IO[str], prefix: str) -> int:
    """One JSON object per line: label, topic, key (text) and value (base64)."""
    written = 0
    for record in records:
        handle.write(
            json.dumps(
                {
                    "label": record.label.value,
                    "topic": record.topic.full_name(prefix),
                    "key": record.key.decode(),
                    "value": base64.b64encode(record.value).decode(),
                }
            )
            + "\n"
        )
        written += 1
    return written


class Pacer:
    """Spaces events ``1 / rate`` seconds apart without drifting (no rate: no waiting)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def due(self) -> bool:
        """Whether the next event is due now; if so, books the one after it."""
        if self.interval == 0.0:
            return True
        now = time.monotonic()
        if now < self.next_at:
            return False
        self.next_at = max(self.next_at + self.interval, now - 1.0)  # no burst after a stall
        return True

    def wait(self) -> None:
        while not self.due():
            time.sleep(min(self.interval, max(self.next_at - time.monotonic(), 0.0)))


def produce(
    records: Iterable[SyntheticRecord], producer: KafkaProducer, prefix: str, rate: float | None
) -> int:
    """Send records to their ingest topics, at most ``rate`` per second; returns how many."""
    pacer = Pacer(rate)
    sent = 0
    for record in records:
        pacer.wait()
        producer.produce(
            record.topic.full_name(prefix),
            record.value,
            key=record.key,
            headers=[(LABEL_HEADER, record.label.value.encode())],
        )
        sent += 1
    producer.flush()
    return sent
