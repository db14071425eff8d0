"""The one module through which Liaison makes confluent-kafka clients.

Producers are idempotent with ``acks=all``; every record gets a delivery
callback, the producer is polled after each send and flushed on close, and a
close that leaves records unacknowledged raises instead of dropping them.
Consumers never store an offset on their own: the caller stores a message's
offset once the work for it is acknowledged, and the periodic auto-commit
commits only stored offsets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Self, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupState,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from liaison.avro.codec import MAX_MESSAGE_BYTES
from liaison.errors import ConfigurationError, DeliveryError, FlushTimeoutError, RetriableError
from liaison.settings import Settings, env_name

__all__ = [
    "DeliveryCallback",
    "KafkaConfig",
    "KafkaConsumer",
    "KafkaProducer",
    "admin_result",
    "commit_can_wait",
    "consumer_config",
    "group_is_stable",
    "make_admin",
    "producer_config",
    "read_to_end",
    "resolve_bootstrap",
]

log = logging.getLogger(__name__)
# librdkafka's own log lines, through Python logging instead of raw stderr.
librdkafka_log = logging.getLogger("liaison.kafka.librdkafka")

T = TypeVar("T")
DeliveryCallback = Callable[[KafkaError | None, Message], None]
KafkaConfig = dict[str, str | int | float | bool]
Headers = Sequence[tuple[str, bytes]]


def resolve_bootstrap(settings: Settings) -> str:
    """The configured bootstrap servers; a process never goes looking for a broker."""
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    raise ConfigurationError(
        f"no Kafka to talk to: set {env_name('bootstrap_servers')} (for the embedded broker, "
        "to the address `liaison kafka start` prints)"
    )


def admin_result(future: Future[T], timeout_s: float = 30.0) -> T:
    """The result of an AdminClient future; its error is raised as a new KafkaException.

    ``future.result()`` would raise the future's own exception object, whose
    traceback then holds this frame, which holds the future: a reference cycle
    that keeps the AdminClient alive until a garbage collection. If that comes
    after the broker has gone (a stopped local broker, a process at exit),
    librdkafka can block for ever destroying the client.
    """
    error = future.exception(timeout=timeout_s)
    if error is not None:
        cause = error.args[0] if isinstance(error, KafkaException) and error.args else str(error)
        raise KafkaException(cause)
    return future.result()


def group_is_stable(
    admin: AdminClient, group_id: str, timeout_s: float = 5.0, members: int = 1
) -> bool:
    """Whether ``group_id`` has (at least ``members``) members and has finished assigning
    partitions to them."""
    future = admin.describe_consumer_groups([group_id], request_timeout=timeout_s)[group_id]
    if future.exception(timeout=timeout_s + 1) is not None:
        return False
    group = future.result()
    return len(group.members) >= max(members, 1) and group.state == ConsumerGroupState.STABLE


def _common(settings: Settings, bootstrap: str | None) -> KafkaConfig:
    return {
        "bootstrap.servers": bootstrap or resolve_bootstrap(settings),
        **settings.kafka_client_config(),
    }


def producer_config(
    settings: Settings, bootstrap: str | None = None, **extra: str | int | float | bool
) -> KafkaConfig:
    """Producer configuration: idempotent, all in-sync replicas acknowledge."""
    config: KafkaConfig = {
        **_common(settings, bootstrap),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "delivery.timeout.ms": 120_000,
        # librdkafka's own bound on one record (1,000,000 by default) would refuse records
        # the topics take (MAX_MESSAGE_BYTES); the codec bounds what is produced.
        "message.max.bytes": MAX_MESSAGE_BYTES + 64 * 1024,
        # The Java client's partitioner (and aiokafka's, which the pipeline uses): a key
        # lands on the same partition whichever client wrote it, as stateful stages need.
        "partitioner": "murmur2_random",
    }
    config.update(extra)
    if config["acks"] not in ("all", -1) or config["enable.idempotence"] is not True:
        raise ConfigurationError("Liaison producers must keep acks=all and enable.idempotence")
    return config


def consumer_config(
    settings: Settings,
    group_id: str,
    bootstrap: str | None = None,
    **extra: str | int | float | bool,
) -> KafkaConfig:
    """Consumer configuration: offsets are stored by the caller after the work is done."""
    config: KafkaConfig = {
        **_common(settings, bootstrap),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }
    config.update(extra)
    if config["enable.auto.offset.store"] is not False:
        raise ConfigurationError("Liaison consumers store offsets only after the work is done")
    return config


def make_admin(settings: Settings, bootstrap: str | None = None) -> AdminClient:
    return AdminClient(_common(settings, bootstrap), logger=librdkafka_log)


class _ClosedOnExit:
    """``with client:`` closes the client (flush for producers, leave group for consumers)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class KafkaProducer(_ClosedOnExit):
    """A producer that accounts for every record it was given.

    ``delivered`` and ``failed`` count the broker's answers. Use as a context
    manager, or call :meth:`close`, so the tail of the stream is flushed.
    """

    def __init__(self, config: Mapping[str, str | int | float | bool]) -> None:
        try:
            self._producer = Producer({**config, "logger": librdkafka_log})
        except KafkaException as exc:  # unknown or invalid configuration keys
            raise ConfigurationError(
                f"invalid producer configuration: {exc.args[0].str()}"
            ) from exc
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self._failed_at_flush = 0
        self.last_error: KafkaError | None = None

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        block_s: float = 30.0,
        partition: int | None = None,
    ) -> None:
        """Queue one record. ``on_delivery`` runs from :meth:`poll` or :meth:`flush`.

        When the local queue is full this polls (serving callbacks) until there
        is room, for at most ``block_s`` seconds, then raises RetriableError.
        """

        def report(error: KafkaError | None, message: Message) -> None:
            with self._lock:
                if error is None:
                    self.delivered += 1
                else:
                    self.failed += 1
                    self.last_error = error
            if error is not None and on_delivery is None:
                log.error("delivery to %s failed: %s", message.topic(), error.str())
            if on_delivery is not None:
                on_delivery(error, message)

        deadline = time.monotonic() + block_s
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=list(headers or ()),
                    on_delivery=report,
                    partition=-1 if partition is None else partition,  # -1: the partitioner's
                )
                break
            except BufferError:
                if time.monotonic() >= deadline:
                    raise RetriableError(
                        f"producer queue still full after {block_s:.0f}s"
                    ) from None
                self._producer.poll(0.1)
            except KafkaException as exc:
                raise DeliveryError(f"cannot produce to {topic}: {exc.args[0].str()}") from exc
        self._producer.poll(0)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery callbacks; returns how many ran."""
        return int(self._producer.poll(timeout_s))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged. Raises FlushTimeoutError if some
        are still in flight, and DeliveryError if any record since the last flush failed:
        a caller that flushes before recording progress never records a gap."""
        remaining = int(self._producer.flush(timeout_s))
        if remaining:
            raise FlushTimeoutError(remaining, timeout_s)
        with self._lock:
            failed = self.failed - self._failed_at_flush
            self._failed_at_flush = self.failed
            error = self.last_error
        if failed:
            reason = error.str() if error is not None else "unknown error"
            raise DeliveryError(f"{failed} record(s) were not delivered; last error: {reason}")

    def close(self, timeout_s: float = 30.0) -> None:
        self.flush(timeout_s)

    def __len__(self) -> int:
        return len(self._producer)


class KafkaConsumer(_ClosedOnExit):
    """A consumer whose offsets move only when the caller says the work is done."""

    def __init__(
        self, config: Mapping[str, str | int | float | bool], topics: Sequence[str]
    ) -> None:
        try:
            self._consumer = Consumer({**config, "logger": librdkafka_log})
        except KafkaException as exc:
            raise ConfigurationError(
                f"invalid consumer configuration: {exc.args[0].str()}"
            ) from exc
        self._consumer.subscribe(list(topics))
        self._closed = False

    def poll(self, timeout_s: float = 1.0) -> Message | None:
        """The next record, or None. Transient client errors are logged and skipped;
        fatal ones raise."""
        return next(iter(self.consume(1, timeout_s)), None)

    def consume(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Message]:
        """Up to ``max_records`` records, waiting at most ``timeout_s`` for the first."""
        records = []
        for message in self._consumer.consume(max_records, timeout_s):
            error = message.error()
            if error is None:
                records.append(message)
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error (client will retry): %s", error.str())
        return records

    def assignment(self) -> list[TopicPartition]:
        """The partitions this consumer holds now (none before its group assigned any)."""
        return list(self._consumer.assignment())

    def keep_alive(self) -> None:
        """Poll without reading, for a caller that holds records it has not finished: the
        group takes a consumer that does not poll within ``max.poll.interval.ms`` for gone
        and gives its partitions to another. Every partition is paused for the poll (the
        records fetched after the ones handed over are fetched again on resume: none is
        skipped or handed over twice)."""
        held = self._consumer.assignment()
        if held:
            self._consumer.pause(held)
        try:
            # Paused: nothing should come but errors and rebalance callbacks. A record
            # fetched before the pause took hold is sought back to, to come again.
            for record in self.consume(1, 0.0):
                where = (record.topic() or "", record.partition() or 0, record.offset() or 0)
                self._consumer.seek(TopicPartition(*where))
        finally:
            now = self._consumer.assignment()
            if now:
                self._consumer.resume(now)

    def store(self, message: Message) -> None:
        """Mark ``message`` done: its offset may now be committed."""
        self._consumer.store_offsets(message=message)

    def commit(self) -> None:
        """Commit the stored offsets now (auto-commit would do it within seconds). While the
        group's coordinator moves (a broker lost or restarted) the commit is left to the
        next one: the offsets stay stored, so nothing done is read again for it."""
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError._NO_OFFSET:  # nothing stored since last commit
                return
            if not commit_can_wait(error):
                raise
            log.warning("commit left to the next one: %s", error.str())

    def close(self) -> None:
        """Commit stored offsets and leave the group."""
        if not self._closed:
            self._closed = True
            self._consumer.close()


# What a commit answers while the group's coordinator moves to another broker.
_COORDINATOR_MOVING = frozenset(
    {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._WAIT_COORD,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)


def commit_can_wait(error: KafkaError) -> bool:
    """Whether a failed commit of stored offsets may wait for the next one (the coordinator
    is moving), rather than stop the process."""
    return not error.fatal() and (error.code() in _COORDINATOR_MOVING or error.retriable())


def read_to_end(
    settings: Settings,
    topics: Sequence[str],
    bootstrap: str | None = None,
    *,
    idle_s: float = 60.0,
    complete: bool = False,
) -> Iterator[Message]:
    """Every record of ``topics``, from their start to their end as it is now, without a
    consumer group's offsets (nothing is committed). Gives up after ``idle_s`` without a
    record while some partition has not reached its end; with ``complete``, giving up
    raises TimeoutError (for a reader that must not act on part of a topic)."""
    consumer = Consumer(
        {
            **_common(settings, bootstrap),
            "group.id": f"{settings.client_id}-reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "logger": librdkafka_log,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        pending = set()
        for topic in topics:
            for partition in metadata.topics[topic].partitions if topic in metadata.topics else ():
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                if high > low:
                    pending.add((topic, partition))
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in sorted(pending)])
        deadline = time.monotonic() + idle_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                    continue
                deadline = time.monotonic() + idle_s
                yield message
        if complete and pending:
            raise TimeoutError(
                f"{len(pending)} partition(s) of {', '.join(topics)} not read to end"
            )
    finally:
        consumer.close()
