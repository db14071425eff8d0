"""The connector contract, after Kafka Connect's source and sink tasks.

Sources turn external records into events on an ingest topic:

- a record is acknowledged to its sender (an HTTP 202, a file archived) only once Kafka
  confirmed its event, or its dead letter;
- a source that reads (the CEN inbox) keeps its resume position in Kafka
  (:mod:`connectors.positions`), written after the events before it were confirmed, so a
  restart re-reads at most the unconfirmed tail and never skips;
- a source that is pushed to (the HTTP endpoints) has no position of its own: the sender
  keeps it, and sends again whatever was not answered 202;
- what does not map or validate becomes a dead letter with its original bytes and the reason.

Sinks deliver a partner topic to the far side. A :class:`SinkTask` says how to deliver;
:class:`SinkRunner` does the rest, the same for every sink:

- records that do not decode are dead-lettered before the task sees them;
- ``put`` takes one event: it delivers it, or buffers it for ``flush``;
- :class:`~liaison.errors.EndpointUnavailableError` from ``put`` is retriable: the same event is
  tried again after an exponential backoff with full jitter, up to ``max_attempts``, then
  dead-lettered; :class:`~liaison.errors.DeliveryRefusedError` is permanent: dead-lettered at once;
- ``flush`` makes what ``put`` buffered durable on the far side; the runner calls it when the
  task says it is due, and on stop;
- an offset is stored only once its event was delivered (put and flushed) or its dead letter
  confirmed by Kafka. A runner stopped during a retry stores nothing for that event, so the
  next run starts with it.

Anything else raised by a task is an infrastructure fault (a full disk, a bug): it ends the
process loudly, and the restart resumes from the last stored offset.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.deadletters import dead_letter
from liaison.errors import DeliveryRefusedError, EndpointUnavailableError, SerdeError
from liaison.health import Health
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    producer_config,
    resolve_bootstrap,
)
from liaison.kafka.topics import DEAD_LETTERS
from liaison.metrics import ConnectorMetrics
from liaison.model import from_avro, to_avro
from liaison.model.common import Event
from liaison.settings import Settings

__all__ = ["Connector", "RetryPolicy", "SinkRunner", "SinkTask"]

log = logging.getLogger(__name__)


class Connector(Protocol):
    """What ``liaison connector run`` runs: one connector, until ``stop`` is set."""

    name: str

    def run(self, stop: threading.Event) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt))."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt))


class SinkTask(ABC):
    """How one sink delivers; the runner around it keeps the guarantees."""

    name: str

    @abstractmethod
    def put(self, event: Event, message: Message) -> None:
        """Deliver ``event`` (read from ``message``), or keep it for :meth:`flush`.

        Raises EndpointUnavailableError to have it tried again, DeliveryRefusedError to give
        it up."""

    def flush(self) -> None:  # noqa: B027 - optional: a task that delivers in put needs none
        """Make every event taken by :meth:`put` durable on the far side."""

    def flush_due(self) -> bool:
        """Whether the runner should flush now (and then store the offsets)."""
        return True

    def close(self) -> None:  # noqa: B027 - optional: most tasks hold nothing
        """Release what the task holds; called once, after the last flush."""


class SinkRunner:
    """Reads ``topic`` and gives each event to ``task`` under the sink guarantees."""

    def __init__(
        self,
        settings: Settings,
        task: SinkTask,
        *,
        topic: str,
        partner: str,
        retry: RetryPolicy | None = None,
        metrics: ConnectorMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        bootstrap = resolve_bootstrap(settings)
        self.task, self.topic, self.partner = task, topic, partner
        self.health = health or Health()
        self.metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        # Known label sets at zero from the start: a rate is 0, not missing.
        self.metrics.deliveries.labels(task.name, partner)
        for reason in ("retry", "refused", "gave-up"):
            self.metrics.delivery_failures.labels(task.name, partner, reason)
        self.retry = retry or RetryPolicy()
        self.consumer = KafkaConsumer(
            consumer_config(settings, f"{settings.client_id}-{task.name}", bootstrap), [topic]
        )
        self.producer = KafkaProducer(producer_config(settings, bootstrap))
        self.events, self.letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)
        self.dead_topic = DEAD_LETTERS.full_name(settings.topic_prefix)
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets

    def run(self, stop: threading.Event) -> None:
        pending: list[Message] = []  # taken by the task, offsets not stored yet
        try:
            while not stop.is_set():
                self._beat()
                for message in self.consumer.consume(500, timeout_s=0.5):
                    if not self._handle(message, stop):
                        return  # stopped mid-retry: this event and what follows are re-read
                    pending.append(message)
                if pending and self.task.flush_due():
                    self._commit(pending)
                    pending = []
        finally:
            try:
                if pending:
                    self._commit(pending)  # the work in hand, before leaving
            finally:
                self.task.close()
                self.consumer.close()
                self.producer.close()

    def _handle(self, message: Message, stop: threading.Event) -> bool:
        """Deliver or dead-letter one record; False if stopped before either."""
        try:
            event = from_avro(Event, self.events.decode(message.value() or b""))
        except (SerdeError, ValueError, TypeError, KeyError) as exc:
            self._dead_letter(message, type(exc).__name__, str(exc))
            return True
        reason = "no attempt made"
        name, metrics, started = self.task.name, self.metrics, time.perf_counter()
        for attempt in range(self.retry.max_attempts):
            if attempt and stop.wait(self.retry.delay(attempt, self._rng)):
                return False
            self._beat()  # waiting out a failing endpoint is work, not a hang
            try:
                self.task.put(event, message)
            except EndpointUnavailableError as exc:
                reason = str(exc)
                metrics.delivery_failures.labels(name, self.partner, "retry").inc()
                log.warning("%s: attempt %d failed: %s", name, attempt + 1, reason)
                continue
            except DeliveryRefusedError as exc:
                metrics.delivery_failures.labels(name, self.partner, "refused").inc()
                self._dead_letter(message, exc.kind, str(exc))
            else:
                metrics.deliveries.labels(name, self.partner).inc()
                metrics.delivery_duration.labels(name).observe(time.perf_counter() - started)
            return True
        metrics.delivery_failures.labels(name, self.partner, "gave-up").inc()
        self._dead_letter(
            message,
            "DeliveryFailed",
            f"{self.retry.max_attempts} attempts failed; last: {reason}",
        )
        return True

    def _beat(self) -> None:
        assigned = bool(self.consumer.assignment())
        self.health.beat(ready=assigned, reason="no partitions assigned")

    def _commit(self, messages: list[Message]) -> None:
        self.task.flush()
        self.producer.flush()  # dead letters are in Kafka before their offsets move
        for message in messages:
            self.consumer.store(message)
        self.consumer.commit()

    def _dead_letter(self, message: Message, kind: str, reason: str) -> None:
        self.metrics.dead_letters.labels(self.task.name, kind).inc()
        letter = dead_letter(
            value=message.value(),
            stage=self.task.name,
            kind=kind,
            reason=reason,
            source=message.topic() or "",
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
        )
        self.producer.produce(
            self.dead_topic, self.letters.encode(to_avro(letter)), key=message.key()
        )
