"""Consumer lag of Liaison's consumer groups, in records and in seconds.

For every group and topic: records not yet committed (high watermark minus committed
offset, summed over partitions), and the age of the oldest of them (now minus the
timestamp of the record at the committed offset, the oldest over partitions). A partition
the group never committed counts from its low watermark, as the groups start there.
``liaison lag-exporter`` serves both as gauges (:class:`liaison.metrics.LagMetrics`).

The exporter reads no record: it may only describe the topics (the access table grants it
Describe, never Read, as the records carry personal data). A record's timestamp is found
from the broker's time index instead: ListOffsets by time (``offsets_for_times``) answers
the first offset written at or after a time, so a binary search over time finds when the
record at the committed offset was written, to :data:`AGE_RESOLUTION_S`, in about 30 rounds
of one request per topic. With producer-set timestamps that go backwards the index answers
for the earliest such record, which can only make the age larger, never hide lag.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from liaison.health import Health
from liaison.kafka.client import consumer_config, resolve_bootstrap
from liaison.metrics import LagMetrics
from liaison.policy import RoutingPolicy
from liaison.processes import catalogue, lag_exporter_group
from liaison.settings import Settings

__all__ = ["AGE_RESOLUTION_S", "LagExporter", "LagReading", "watched_groups"]

log = logging.getLogger(__name__)

# Answers that mean "ask again in a moment" (a coordinator loading, a leader moving, a topic
# just created) though librdkafka does not always flag them retriable.
_MOMENTARY = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)

T = TypeVar("T")
AGE_RESOLUTION_S = 0.25


def _patiently(call: Callable[[], T], patience_s: float = 60.0) -> T:
    """``call()``, asked again while the broker answers with a momentary error."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            momentary = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in _MOMENTARY
            )
            if not momentary or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@dataclass(frozen=True)
class LagReading:
    group: str
    topic: str
    messages: int
    seconds: float


def watched_groups(settings: Settings, policy: RoutingPolicy) -> dict[str, list[str]]:
    """Liaison's consumer groups that commit, and the topics each consumes: every process
    of the catalogue with a group (the pipeline worker's, each sink's)."""
    return {p.group: list(p.consumes) for p in catalogue(settings, policy) if p.group}


class LagExporter:
    def __init__(
        self,
        settings: Settings,
        groups: Mapping[str, Sequence[str]],
        metrics: LagMetrics,
        bootstrap: str | None = None,
    ) -> None:
        self.bootstrap = bootstrap or resolve_bootstrap(settings)
        self.settings, self.groups, self.metrics = settings, groups, metrics
        # Asks for watermarks and offsets by time; never assigned, it reads no record.
        self.reader = self._consumer(lag_exporter_group(settings))
        # One consumer per watched group, never subscribed (so never a member): it only asks
        # the group's coordinator for the committed offsets. (The admin API's
        # ListConsumerGroupOffsets can crash librdkafka 2.x when a coordinator is loading.)
        self._committers: dict[str, Consumer] = {}

    def _consumer(self, group: str) -> Consumer:
        return Consumer(
            {**consumer_config(self.settings, group, self.bootstrap), "enable.auto.commit": False}
        )

    def close(self) -> None:
        for consumer in [self.reader, *self._committers.values()]:
            consumer.close()
        self._committers.clear()

    def run(self, stop: threading.Event, interval_s: float, health: Health | None = None) -> None:
        try:
            while not stop.is_set():
                if health is not None:
                    health.beat()
                try:
                    for reading in self.measure():
                        self.metrics.messages.labels(reading.group, reading.topic).set(
                            reading.messages
                        )
                        self.metrics.seconds.labels(reading.group, reading.topic).set(
                            reading.seconds
                        )
                except Exception:  # a broker away for a moment must not end the exporter
                    log.exception("lag measurement failed; trying again")
                stop.wait(interval_s)
        finally:
            self.close()

    def measure(self) -> list[LagReading]:
        readings = []
        for group, topics in self.groups.items():
            partitions = {
                topic: list(self.reader.list_topics(topic, timeout=10).topics[topic].partitions)
                for topic in topics
            }
            committed = self._committed(
                group, [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
            )
            for topic, numbers in partitions.items():
                readings.append(self._topic(group, topic, numbers, committed))
        return readings

    def _committed(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[tuple[str, int], int]:
        committer = self._committers.get(group)
        if committer is None:
            committer = self._committers[group] = self._consumer(group)
        answer = _patiently(lambda: committer.committed(partitions, timeout=10))
        return {(tp.topic, tp.partition): tp.offset for tp in answer if tp.offset >= 0}

    def _topic(
        self,
        group: str,
        topic: str,
        partitions: list[int],
        committed: Mapping[tuple[str, int], int],
    ) -> LagReading:
        behind: list[TopicPartition] = []
        messages = 0
        for partition in partitions:
            place = TopicPartition(topic, partition)
            low, high = _patiently(partial(self.reader.get_watermark_offsets, place, timeout=10))
            start = max(committed.get((topic, partition), low), low)
            if high > start:
                messages += high - start
                behind.append(TopicPartition(topic, partition, start))
        return LagReading(group, topic, messages, self._oldest_age(behind))

    def _oldest_age(self, positions: list[TopicPartition]) -> float:
        """Seconds since the oldest of the records at these positions was written."""
        if not positions:
            return 0.0
        now_ms = int(time.time() * 1000)
        wanted = {(tp.topic, tp.partition): tp.offset for tp in positions}
        # Per partition, [low, high) brackets the write time of the record at its position:
        # the first offset at or after ``low`` is at most the position, after ``high`` not.
        low = dict.fromkeys(wanted, 0)
        high = dict.fromkeys(wanted, now_ms + 1)
        step_ms = max(1, int(AGE_RESOLUTION_S * 1000))
        while True:
            open_ = [place for place in wanted if high[place] - low[place] > step_ms]
            if not open_:
                break
            middle = {place: (low[place] + high[place]) // 2 for place in open_}
            asked = [TopicPartition(t, p, middle[(t, p)]) for t, p in open_]
            answer = _patiently(partial(self.reader.offsets_for_times, asked, timeout=10))
            for tp in answer:
                place = (tp.topic, tp.partition)
                # -1: nothing written at or after that time.
                if 0 <= tp.offset <= wanted[place]:
                    low[place] = middle[place]
                else:
                    high[place] = middle[place]
        written_ms = min(low.values())
        return max(0.0, (now_ms - written_ms) / 1000)
