"""Where each source stopped, kept in Kafka (a compacted topic), so a restart neither skips
nor re-reads more than the records it had not confirmed.

A position is a small JSON document under the key ``<connector>/<input>``: for a file, the
last line whose event Kafka confirmed, and whether the file is finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from connectors.catalogue import positions_reader_group
from liaison.kafka.client import KafkaConsumer, KafkaProducer, consumer_config
from liaison.kafka.topics import CONNECT_POSITIONS
from liaison.settings import Settings

__all__ = ["Position", "PositionStore"]


@dataclass(frozen=True)
class Position:
    line: int = 0  # the last line done (header is line 1)
    finished: bool = False
    digest: str | None = None  # of a finished file's content, to know it if it comes again


class PositionStore:
    """Reads every stored position once at start, then records new ones."""

    def __init__(self, settings: Settings, bootstrap: str, connector: str) -> None:
        self.connector = connector
        self.topic = CONNECT_POSITIONS.full_name(settings.topic_prefix)
        self._positions: dict[str, Position] = {}
        config = consumer_config(
            settings,
            positions_reader_group(settings, connector),
            bootstrap,
            **{"enable.partition.eof": True, "enable.auto.commit": False},
        )
        self._load(KafkaConsumer(config, [self.topic]))

    def _load(self, consumer: KafkaConsumer) -> None:
        prefix = f"{self.connector}/"
        with consumer:
            quiet = 0
            while quiet < 4:  # the topic is small; four empty polls mean its end
                batch = consumer.consume(500, timeout_s=0.5)
                quiet = 0 if batch else quiet + 1
                for message in batch:
                    key = (message.key() or b"").decode()
                    if key.startswith(prefix) and message.value() is not None:
                        raw = json.loads(message.value() or b"{}")
                        self._positions[key[len(prefix) :]] = Position(
                            raw["line"], raw["finished"], raw.get("sha256")
                        )

    def get(self, name: str) -> Position:
        return self._positions.get(name, Position())

    def put(self, producer: KafkaProducer, name: str, position: Position) -> None:
        """Record ``position``; call after Kafka confirmed the events it covers (flush)."""
        fields: dict[str, object] = {"line": position.line, "finished": position.finished}
        if position.digest is not None:
            fields["sha256"] = position.digest
        value = json.dumps(fields).encode()
        producer.produce(self.topic, value, key=f"{self.connector}/{name}".encode())
        producer.flush()
        self._positions[name] = position
