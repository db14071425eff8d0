"""Consumer lag of Liaison's consumer groups, in records and in seconds.

For every group and topic: records not yet committed (high watermark minus committed
offset, summed over partitions), and the age of the oldest of them (now minus the
timestamp of the record at the committed offset, the oldest over partitions). A partition
the group never committed counts from its low watermark, as the groups start there.
``liaison lag-exporter`` serves both as gauges (:class:`liaison.metrics.LagMetrics`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from liaison.kafka.client import admin_result, consumer_config, make_admin, resolve_bootstrap
from liaison.kafka.topics import (
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
)
from liaison.metrics import LagMetrics
from liaison.policy import RoutingPolicy
from liaison.settings import Settings

__all__ = ["LagExporter", "LagReading", "watched_groups"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LagReading:
    group: str
    topic: str
    messages: int
    seconds: float


def watched_groups(settings: Settings, policy: RoutingPolicy) -> dict[str, list[str]]:
    """Liaison's consumer groups and the topics each reads: the pipeline worker's, and each
    sink's (named as the sinks name their groups)."""
    prefix = settings.topic_prefix
    stages = [*INGEST_TOPICS, PIPELINE_VERSIONED, PIPELINE_DEDUPED, PIPELINE_WATCH]
    groups = {settings.pipeline_app_id: [s.full_name(prefix) for s in [*stages, PIPELINE_ENRICHED]]}
    for partner in policy.partners:
        if partner.endpoint is None:
            continue
        sink = "cen-sink" if partner.kind == "cen" else f"{partner.endpoint}-sink"
        groups[f"{settings.client_id}-{sink}"] = [prefix + partner.topic]
    return groups


class LagExporter:
    def __init__(
        self,
        settings: Settings,
        groups: Mapping[str, Sequence[str]],
        metrics: LagMetrics,
        bootstrap: str | None = None,
    ) -> None:
        bootstrap = bootstrap or resolve_bootstrap(settings)
        self.groups, self.metrics = groups, metrics
        self.admin = make_admin(settings, bootstrap)
        # Reads the record at a committed offset for its timestamp; commits nothing.
        self.reader = Consumer(
            {
                **consumer_config(settings, f"{settings.client_id}-lag-exporter", bootstrap),
                "enable.auto.commit": False,
            }
        )

    def run(self, stop: threading.Event, interval_s: float) -> None:
        try:
            while not stop.is_set():
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
            self.reader.close()

    def measure(self) -> list[LagReading]:
        readings = []
        for group, topics in self.groups.items():
            committed = self._committed(group)
            for topic in topics:
                readings.append(self._topic(group, topic, committed))
        return readings

    def _committed(self, group: str, patience_s: float = 60.0) -> dict[tuple[str, int], int]:
        deadline = time.monotonic() + patience_s
        while True:
            request = [ConsumerGroupTopicPartitions(group)]
            try:
                futures = self.admin.list_consumer_group_offsets(request, request_timeout=10)
                answer = admin_result(futures[group], timeout_s=15)
                break
            except (KafkaException, TimeoutError) as exc:
                error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
                # A coordinator still loading (a group seen for the first time, a broker
                # just started) answers in a moment; anything else is raised.
                retriable = error is None or (
                    isinstance(error, KafkaError)
                    and (error.retriable() or error.code() == KafkaError._TIMED_OUT)
                )
                if not retriable or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in answer.topic_partitions or []
            if tp.offset >= 0
        }

    def _topic(
        self, group: str, topic: str, committed: Mapping[tuple[str, int], int]
    ) -> LagReading:
        metadata = self.reader.list_topics(topic, timeout=10).topics[topic]
        behind: list[TopicPartition] = []
        messages = 0
        for partition in metadata.partitions:
            low, high = self.reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            start = max(committed.get((topic, partition), low), low)
            if high > start:
                messages += high - start
                behind.append(TopicPartition(topic, partition, start))
        return LagReading(group, topic, messages, self._oldest_age(behind))

    def _oldest_age(self, positions: list[TopicPartition], timeout_s: float = 5.0) -> float:
        """Seconds since the oldest of the records at these positions was written."""
        if not positions:
            return 0.0
        self.reader.assign(positions)
        self.reader.resume(positions)  # paused by an earlier reading: a pause outlives unassign
        oldest: float | None = None
        waiting = {(tp.topic, tp.partition) for tp in positions}
        deadline = time.monotonic() + timeout_s
        try:
            while waiting and time.monotonic() < deadline:
                for message in self.reader.consume(len(waiting), timeout=0.5):
                    place = (message.topic(), message.partition())
                    if message.error() is not None or place not in waiting:
                        continue
                    waiting.discard(place)
                    self.reader.pause([TopicPartition(*place)])
                    _kind, millis = message.timestamp()
                    if millis > 0:
                        written = millis / 1000
                        oldest = written if oldest is None else min(oldest, written)
        finally:
            self.reader.unassign()
        return max(0.0, time.time() - oldest) if oldest is not None else 0.0
