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
  tried again after an exponential backoff with full jitter, for up to the retry budget
  (``LIAISON_DELIVERY_GIVE_UP_S``), then dead-lettered;
  :class:`~liaison.errors.DeliveryRefusedError` is permanent: dead-lettered at once;
- ``flush`` makes what ``put`` buffered durable on the far side; the runner calls it when the
  task says it is due, and on stop;
- an offset is stored only once its event was delivered (put and flushed) or its dead letter
  confirmed by Kafka. A runner stopped during a retry stores nothing for that event, so the
  next run starts with it.

Anything else raised by a task is an infrastructure fault (a full disk, a bug): it ends the
process loudly, and the restart resumes from the last stored offset.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message
from prometheus_client import CollectorRegistry

from connectors.catalogue import sink_group
from connectors.receipts import receipt_of
from liaison.avro.codec import MAX_MESSAGE_BYTES, AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, DELIVERY_RECEIPT, EVENT
from liaison.deadletters import dead_letter
from liaison.errors import (
    DeliveryRefusedError,
    EndpointUnavailableError,
    MappingError,
    MessageTooLargeError,
    RetriableError,
    SerdeError,
)
from liaison.health import Health
from liaison.identity import record_key
from liaison.kafka.client import (
    DeliveryCallback,
    KafkaConfig,
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    producer_config,
    resolve_bootstrap,
)
from liaison.kafka.topics import DEAD_LETTERS, RECEIPTS
from liaison.metrics import ConnectorMetrics
from liaison.model import from_avro, to_avro
from liaison.model.common import Event
from liaison.model.exchange import DeliveryReceipt, ReceiptOutcome
from liaison.settings import Settings
from liaison.validation import validate

__all__ = [
    "Checkpoint",
    "Connector",
    "Decision",
    "RetryPolicy",
    "SinkRunner",
    "SinkTask",
    "SourceRecord",
    "SourceRunner",
    "SourceTask",
]

log = logging.getLogger(__name__)
# The largest event a source sends: the topics' message bound less room for the key, the
# headers, the batch's framing and what the pipeline adds (lineage, enrichment); a larger
# one is a dead letter, not a send Kafka refuses (nor a poison input for the worker).
_EVENT_ROOM = MAX_MESSAGE_BYTES - 64 * 1024
# What a dead letter keeps of a record's own bytes, at most (the rest is cut, and said so).
LETTER_KEEPS = 512 * 1024


class Connector(Protocol):
    """What ``liaison connector run`` runs: one connector, until ``stop`` is set."""

    name: str

    def run(self, stop: threading.Event) -> None: ...


# Beyond a sink's retry budget, what one attempt and the commit after it may take.
_POLL_MARGIN_S = 120.0
_KEEP_ALIVE_S = 5.0  # the longest a sink waiting out an endpoint goes without polling


@dataclass(frozen=True)
class RetryPolicy:
    """How long a sink keeps trying an endpoint that answers as down: until
    ``give_up_after_s`` from the first attempt (and at most ``max_attempts``, when given),
    waiting between attempts with exponential backoff and full jitter."""

    give_up_after_s: float = 300.0
    max_attempts: int | None = None
    base_s: float = 0.5
    cap_s: float = 30.0

    def next_delay(self, attempt: int, elapsed_s: float, rng: random.Random) -> float | None:
        """The wait before the next attempt, ``attempt`` made so far and ``elapsed_s`` spent
        since the first began; None to give up. Full jitter: uniform in
        [0, min(cap, base * 2**attempt)), cut to what is left of the budget."""
        left = self.give_up_after_s - elapsed_s
        if left <= 0 or (self.max_attempts is not None and attempt >= self.max_attempts):
            return None
        return min(left, rng.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt)))


def sink_consumer_config(
    settings: Settings, group: str, bootstrap: str, retry: RetryPolicy
) -> KafkaConfig:
    """A sink's consumer: the group takes a consumer that polls less often than
    ``max.poll.interval.ms`` for gone. A sink waiting out an endpoint keeps polling (its
    partitions paused); the interval still covers one event's whole retry budget, so that
    a wait between those polls never costs it its group."""
    poll_s = retry.give_up_after_s + _POLL_MARGIN_S
    return consumer_config(
        settings, group, bootstrap, **{"max.poll.interval.ms": int(poll_s * 1000)}
    )


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
        self.retry = retry or RetryPolicy(give_up_after_s=settings.delivery_give_up_s)
        self.consumer = KafkaConsumer(
            sink_consumer_config(settings, sink_group(settings, task.name), bootstrap, self.retry),
            [topic],
        )
        self.producer = KafkaProducer(producer_config(settings, bootstrap))
        self.events = AvroCodec(EVENT, max_bytes=_EVENT_ROOM)
        self.letters = AvroCodec(DEAD_LETTER_SCHEMA)
        self.dead_topic = DEAD_LETTERS.full_name(settings.topic_prefix)
        self.receipts = AvroCodec(DELIVERY_RECEIPT)
        self.receipt_topic = RECEIPTS.full_name(settings.topic_prefix)
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets

    def run(self, stop: threading.Event) -> None:
        pending: list[tuple[Message, DeliveryReceipt]] = []  # taken, offsets not stored yet
        try:
            while not stop.is_set():
                self._beat()
                for message in self.consumer.consume(500, timeout_s=0.5):
                    receipt = self._handle(message, stop)
                    if receipt is None:
                        return  # stopped mid-retry: this event and what follows are re-read
                    pending.append((message, receipt))
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

    def _handle(self, message: Message, stop: threading.Event) -> DeliveryReceipt | None:
        """Deliver or dead-letter one record, and say which; None if stopped before either."""
        try:
            event = from_avro(Event, self.events.decode(message.value() or b""))
        except (SerdeError, ValueError, TypeError, KeyError) as exc:
            self._dead_letter(message, type(exc).__name__, str(exc))
            return receipt_of(self, message, None, ReceiptOutcome.DEAD_LETTERED, type(exc).__name__)
        name, metrics, started = self.task.name, self.metrics, time.perf_counter()
        attempt = 0
        while True:
            self._beat()  # waiting out a failing endpoint is work, not a hang
            attempt += 1
            try:
                self.task.put(event, message)
            except EndpointUnavailableError as exc:
                reason = str(exc)
                metrics.delivery_failures.labels(name, self.partner, "retry").inc()
                log.warning("%s: attempt %d failed: %s", name, attempt, reason)
                wait = self.retry.next_delay(attempt, time.perf_counter() - started, self._rng)
                if wait is None:
                    break
                if self._wait(wait, stop):
                    return None
                continue
            except DeliveryRefusedError as exc:
                metrics.delivery_failures.labels(name, self.partner, "refused").inc()
                self._dead_letter(message, exc.kind, str(exc))
                return receipt_of(self, message, event, ReceiptOutcome.REFUSED, str(exc))
            metrics.deliveries.labels(name, self.partner).inc()
            metrics.delivery_duration.labels(name).observe(time.perf_counter() - started)
            return receipt_of(self, message, event, ReceiptOutcome.DELIVERED, None)
        metrics.delivery_failures.labels(name, self.partner, "gave-up").inc()
        spent = time.perf_counter() - started
        given_up = f"{attempt} attempts failed in {spent:.0f} s; last: {reason}"
        self._dead_letter(message, "DeliveryFailed", given_up)
        return receipt_of(self, message, event, ReceiptOutcome.DEAD_LETTERED, given_up)

    def _wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait out an endpoint for ``seconds``, polling the group meanwhile (a batch's
        events can each wait up to the retry budget, far longer in all than the group
        allows between polls); True when stopped."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if stop.wait(min(left, _KEEP_ALIVE_S)):
                return True
            self.consumer.keep_alive()
        return stop.is_set()

    def _beat(self) -> None:
        assigned = bool(self.consumer.assignment())
        self.health.beat(ready=assigned, reason="no partitions assigned")

    def _commit(self, taken: list[tuple[Message, DeliveryReceipt]]) -> None:
        self.task.flush()  # delivered means durable on the far side: then the receipts
        for message, receipt in taken:
            self.producer.produce(
                self.receipt_topic, self.receipts.encode(to_avro(receipt)), key=message.key()
            )
        self.producer.flush()  # dead letters and receipts are in Kafka before offsets move
        for message, _ in taken:
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


# -- sources -------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRecord:
    """One external record as a source task read it: its event, or why it has none.

    ``original`` is the record's own bytes (a dead letter keeps them); ``place`` says where it
    came in, as a dead letter names it (``cen-source:<file>``, ``police-source:alerts/bulk``),
    with ``line`` for a record inside a file. ``position`` is where to resume after this
    record, in the task's own terms; the runner hands it back to the task only once Kafka
    confirmed this record and every one before it.
    """

    original: bytes
    place: str
    line: int | None = None
    event: Event | None = None
    error: MappingError | None = None  # why it does not map, when ``event`` is None
    record_id: str | None = None  # the sender's id of it, when known (for reports)
    position: Any = None
    note: str = ""  # said in its dead letter besides the reasons (the text was cut)
    letter_key: bytes | None = None  # the dead letter's Kafka key (default: ``place``)
    error_kind: str = "MappingError"  # the dead letter's class, when ``error`` is set


@dataclass(frozen=True)
class Checkpoint:
    """A position a reading task wants committed now (the end of a file, say), whether or
    not a record came before it."""

    position: Any


@dataclass(frozen=True)
class Decision:
    """What the runner made of one source record: sent as an event, or rejected."""

    record: SourceRecord
    event: Event | None  # the event sent, or None for a rejection
    kind: str = ""  # the rejection's error class
    errors: tuple[tuple[str, str], ...] = ()  # (field, reason), in the sender's field names
    value: bytes = b""  # the event encoded, as sent

    @property
    def accepted(self) -> bool:
        return self.event is not None

    @property
    def reason(self) -> str:
        return "; ".join(f"{field}: {why}" for field, why in self.errors)


class SourceTask(ABC):
    """How one source reads; :class:`SourceRunner` keeps the guarantees.

    A source that reads (the CEN inbox) yields records from :meth:`poll` and is told by
    :meth:`commit` how far Kafka has confirmed them. A source that is pushed to (HTTP) hands
    its records to :meth:`SourceRunner.send_confirmed` and answers its sender from the
    decisions; the sender keeps the position."""

    name: str

    def poll(self, stop: threading.Event) -> Iterator[SourceRecord | Checkpoint]:
        """The records to send now, each with its position, and the checkpoints the task
        wants; empty when there is nothing new. It ends soon after ``stop`` is set (a file
        may still yield the checkpoint that finishes it)."""
        return iter(())

    def decided(self, decision: Decision) -> None:  # noqa: B027 - optional
        """Note what became of a record (a file's report counts them)."""

    def commit(self, position: Any) -> None:  # noqa: B027 - optional for pushed-to sources
        """Record ``position``: Kafka has every record up to it."""

    def field_name(self, path: str) -> str:
        """An event field (``payload.items[0]``) as the sender's own format names it."""
        return path

    def close(self) -> None:  # noqa: B027 - optional
        """Release what the task holds; called once, at the end."""


class SourceRunner:
    """Validates, encodes and produces a source task's records, waits for Kafka, and only
    then lets the task record its position (or its sender hear 202)."""

    def __init__(
        self,
        task: SourceTask,
        *,
        ingest_topic: str,
        dead_letter_topic: str,
        producer: KafkaProducer,
        checkpoint_every: int = 100,
        metrics: ConnectorMetrics | None = None,
        health: Health | None = None,
        confirm_timeout_s: float = 30.0,
    ) -> None:
        self.task, self.producer, self.ingest_topic = task, producer, ingest_topic
        self.dead_topic = dead_letter_topic
        self.checkpoint_every = checkpoint_every
        self.metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        self.health = health or Health()
        self.confirm_timeout_s = confirm_timeout_s
        self.events = AvroCodec(EVENT, max_bytes=_EVENT_ROOM)
        self.letters = AvroCodec(DEAD_LETTER_SCHEMA)
        self._unconfirmed: list[Decision] = []  # produced, not yet counted
        # Known label sets at zero from the start: a rate is 0, not missing.
        for outcome in ("accepted", "rejected"):
            self.metrics.records.labels(task.name, outcome)
        for kind in ("MappingError", "ValidationError"):
            self.metrics.dead_letters.labels(task.name, kind)

    # -- one record --------------------------------------------------------------

    def decide(self, record: SourceRecord) -> Decision:
        """Whether ``record`` goes on as an event: it maps, and its event is valid."""
        if record.event is None:
            error = record.error or MappingError("record", "does not map to an event")
            return Decision(record, None, record.error_kind, ((error.field, error.reason),))
        problems = validate(record.event)
        if problems:
            errors = tuple((self.task.field_name(p.field), p.reason) for p in problems)
            return Decision(record, None, "ValidationError", errors)
        try:
            value = self.events.encode(to_avro(record.event))
        except MessageTooLargeError:
            reason = f"is too large for Kafka as an event (over {_EVENT_ROOM} bytes encoded)"
            return Decision(record, None, "EventTooLarge", (("record", reason),))
        return Decision(record, record.event, value=value)

    def _produce(
        self,
        decision: Decision,
        on_delivery: DeliveryCallback | None = None,
        block_s: float = 30.0,
    ) -> None:
        """Queue ``decision``'s record; wait at most ``block_s`` for room in a full queue
        (then RetriableError)."""
        record = decision.record
        if decision.event is not None:
            value = decision.value or self.events.encode(to_avro(decision.event))
            key = record_key(decision.event).encode()
            self.producer.produce(
                self.ingest_topic, value, key=key, on_delivery=on_delivery, block_s=block_s
            )
            return
        original, note = record.original, record.note
        if len(original) > LETTER_KEEPS:  # the dead letter must fit in Kafka too
            original = original[:LETTER_KEEPS]
            note = note or f" (text cut to {LETTER_KEEPS} bytes)"
        letter = dead_letter(
            value=original,
            stage=self.task.name,
            kind=decision.kind,
            reason=decision.reason + note,
            source=record.place,
            offset=record.line,
        )
        self.producer.produce(
            self.dead_topic,
            self.letters.encode(to_avro(letter)),
            key=record.letter_key or record.place.encode(),
            on_delivery=on_delivery,
            block_s=block_s,
        )

    def _count(self, decisions: Iterable[Decision]) -> None:
        """Records on Kafka: events accepted, and dead letters of rejected ones."""
        name, metrics = self.task.name, self.metrics
        for decision in decisions:
            metrics.records.labels(name, "accepted" if decision.accepted else "rejected").inc()
            if not decision.accepted:
                metrics.dead_letters.labels(name, decision.kind).inc()

    # -- a source that reads -------------------------------------------------------

    def send(self, record: SourceRecord) -> Decision:
        """Produce ``record``'s event or dead letter; Kafka confirms it at :meth:`confirm`."""
        decision = self.decide(record)
        self._produce(decision)
        self._unconfirmed.append(decision)
        self.task.decided(decision)
        return decision

    def confirm(self) -> None:
        """Wait until Kafka has everything sent so far (raises if it refused any)."""
        self.producer.flush(self.confirm_timeout_s)
        self._count(self._unconfirmed)
        self._unconfirmed.clear()

    def checkpoint(self, position: Any) -> None:
        """Confirm, then let the task record ``position``."""
        self.confirm()
        self.task.commit(position)

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        """Poll the task until ``stop``: send each record, checkpoint every
        ``checkpoint_every`` records, where the task asks, and before stopping."""
        last: SourceRecord | None = None  # sent, its position not committed yet
        try:
            while not stop.is_set():
                self.health.beat()
                since = 0
                for item in self.task.poll(stop):
                    if isinstance(item, Checkpoint):
                        self.checkpoint(item.position)
                        last, since = None, 0
                    else:
                        self.send(item)
                        last, since = item, since + 1
                        if since >= self.checkpoint_every:
                            self.checkpoint(item.position)
                            last, since = None, 0
                    self.health.beat()
                stop.wait(poll_s)
        finally:
            try:
                if last is not None:
                    self.checkpoint(last.position)  # the work in hand, before leaving
            finally:
                self.task.close()
                self.producer.close()

    # -- a source that is pushed to ------------------------------------------------

    async def send_confirmed(self, records: Sequence[SourceRecord]) -> list[Decision] | None:
        """Produce every record's event or dead letter and wait for Kafka: the decisions,
        or None when Kafka did not confirm them all in time (the sender must send again)."""
        loop = asyncio.get_running_loop()
        decisions, answers = [], []
        for number, record in enumerate(records, 1):
            decision = self.decide(record)
            done: asyncio.Future[KafkaError | None] = loop.create_future()
            try:
                # Never wait for room on the event loop: a full queue means Kafka is not
                # keeping up, and the sender is told to send again (503) at once.
                self._produce(decision, _settled_from_thread(loop, done), block_s=0.0)
            except RetriableError:
                log.warning(
                    "%s: the producer's queue is full; asking to send again", self.task.name
                )
                return None
            decisions.append(decision)
            answers.append(done)
            if number % 500 == 0:
                await asyncio.sleep(0)  # let other requests in during a long file
        try:
            errors = await asyncio.wait_for(asyncio.gather(*answers), self.confirm_timeout_s)
        except TimeoutError:
            return None
        refused = [error for error in errors if error is not None]
        if refused:
            name, first = self.task.name, refused[0].str()
            log.error("%s: Kafka refused %d record(s): %s", name, len(refused), first)
            return None
        self._count(decisions)
        for decision in decisions:
            self.task.decided(decision)
        return decisions


def _settled_from_thread(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[KafkaError | None]
) -> DeliveryCallback:
    """A delivery callback (run on the producer's polling thread) that settles ``future``."""

    def settle(error: KafkaError | None) -> None:
        if not future.done():
            future.set_result(error)

    def delivered(error: KafkaError | None, _message: Message) -> None:
        loop.call_soon_threadsafe(settle, error)

    return delivered
