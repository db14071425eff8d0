"""Receipts for the partners that read their topic from Kafka themselves.

No sink stands between such a partner and its deliveries, so what it received is what its
consumer groups committed: a group's committed offset on a partition says that the partner
processed every record before it. This process watches the committed offsets of every
group the partner may use (those named with its prefix, ``partner-<name>.``), and when
one has moved past records it has not yet receipted, it writes a DELIVERED receipt for
each of them (``sink`` names the group) to the receipts topic, beside the ones the sinks
write. It knows which event a record is from the record's key and the headers route puts
on every partner record (:func:`liaison.identity.delivery_headers`); it never decodes a
value, so it handles no content.

Its own group's committed offset on each partner partition is how far it has receipted,
committed only once the receipts are in Kafka: a restart writes receipts again from there
at most, with the same ids (derived from the record's place), which the audit trail shows
once. A partition no group of the partner has committed on gets no receipt: nothing says
the partner has read it; nor does a commit past the partition's end (a topic recreated, a
stray offset). A partner that falls behind further than its topic's retention gets no
receipt for what it lost.

A commit says what the partner's consumer chose to commit, no more: a partner that commits
before it has taken a record in (auto-commit on poll), or that moves its offsets forward by
hand, is receipted for what it skipped. The interface documentation says so to partners.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from connectors.catalogue import Running, read_receipts_group
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_RECEIPT
from liaison.health import Health
from liaison.identity import delivered_event
from liaison.kafka.client import (
    KafkaProducer,
    admin_result,
    consumer_config,
    make_admin,
    producer_config,
    resolve_bootstrap,
)
from liaison.kafka.topics import RECEIPTS
from liaison.model import to_avro
from liaison.model.common import SourceSystem
from liaison.model.exchange import DeliveryReceipt, ReceiptOutcome
from liaison.policy import Partner
from liaison.settings import Settings
from liaison.timestamps import utc_now

__all__ = ["GROUP_SINK", "ReadReceipts", "receipt_for"]

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("8d0b6f3e-2c41-5a7e-b9d4-1f6a3c5e7b20")
GROUP_SINK = "group:"  # a receipt's ``sink`` for a partner's own read: "group:<its group>"
_BATCH = 5_000  # records read per partition and pass, so memory stays bounded


@dataclass(frozen=True)
class _Watched:
    partner: Partner
    topic: str  # full name


def receipt_for(partner_id: str, group: str, message: Message) -> DeliveryReceipt:
    """The receipt for ``message`` of a partner topic, read by the partner's ``group``.
    Its id depends on the record's place only: the same if it is written again."""
    topic, partition, offset = message.topic() or "", message.partition(), message.offset()
    key = (message.key() or b"").decode("utf-8", "replace")
    system, _, record_id = key.partition(":")
    event_id, version = delivered_event(message.headers())
    return DeliveryReceipt(
        receipt_id=uuid.uuid5(_NAMESPACE, f"{topic}/{partition}/{offset}"),
        event_id=event_id,
        source_system=SourceSystem(system) if system in SourceSystem._value2member_map_ else None,
        source_record_id=record_id or None,
        event_version=version,
        partner_id=partner_id,
        sink=GROUP_SINK + group,
        source_topic=topic,
        source_partition=partition or 0,
        source_offset=offset or 0,
        outcome=ReceiptOutcome.DELIVERED,
        reason=None,
        received_at=utc_now(),
    )


class ReadReceipts:
    """Watches the partners' groups and writes the receipts (see the module)."""

    def __init__(
        self,
        settings: Settings,
        partners: Sequence[Partner],
        bootstrap: str | None = None,
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap or resolve_bootstrap(settings)
        self.watched = [
            _Watched(p, settings.topic_prefix + p.topic) for p in partners if p.reads_kafka
        ]
        self.receipt_topic = RECEIPTS.full_name(settings.topic_prefix)
        self.codec = AvroCodec(DELIVERY_RECEIPT)
        self.admin = make_admin(settings, self.bootstrap)
        self.reader = self._consumer(read_receipts_group(settings))
        self.producer = KafkaProducer(producer_config(settings, self.bootstrap))
        # One never-subscribed consumer per partner group: it only asks for its commits.
        self._committers: dict[str, Consumer] = {}
        self.written = 0

    def _consumer(self, group: str) -> Consumer:
        config = consumer_config(self.settings, group, self.bootstrap)
        return Consumer({**config, "enable.auto.commit": False})

    def close(self) -> None:
        for consumer in [self.reader, *self._committers.values()]:
            consumer.close()
        self._committers.clear()
        self.producer.close()

    def run(self, stop: threading.Event, interval_s: float, health: Health | None = None) -> None:
        try:
            while not stop.is_set():
                if health is not None:
                    health.beat()
                try:
                    self.pass_once()
                except Exception:  # a broker away for a moment must not end the receipts
                    log.exception("read receipts: a pass failed; trying again")
                stop.wait(interval_s)
        finally:
            self.close()

    def pass_once(self) -> int:
        """Receipt what the partners' groups committed since the last pass; how many."""
        groups = self._groups()
        for gone in set(self._committers) - set(groups):  # partners name their groups
            self._committers.pop(gone).close()
        before = self.written
        for watched in self.watched:
            mine = [g for g in groups if g.startswith(watched.partner.group_prefix)]
            if not mine:
                continue
            try:
                self._partner(watched, mine)
            except KafkaException:  # one partner's topic away must not hold up the others
                log.exception("read receipts: %s could not be read; next pass", watched.topic)
        return self.written - before

    def _groups(self) -> list[str]:
        listing = admin_result(self.admin.list_consumer_groups(request_timeout=10))
        return sorted(g.group_id for g in listing.valid)

    def _partner(self, watched: _Watched, groups: list[str]) -> None:
        metadata = self.reader.list_topics(watched.topic, timeout=10).topics[watched.topic]
        places = [TopicPartition(watched.topic, p) for p in sorted(metadata.partitions)]
        by_group = {g: self._committed(self._committer(g), places) for g in groups}
        done = self._committed(self.reader, places)
        for place in places:
            number = place.partition
            passed = {g: c[number] for g, c in by_group.items() if number in c}
            if not passed:
                continue
            low, high = self.reader.get_watermark_offsets(place, timeout=10)
            start = max(done.get(number, low), low)
            end = max(passed.values())
            if end > high:  # not about what the topic holds (it was recreated, or a forgery)
                beyond = sorted(g for g, c in passed.items() if c > high)
                log.warning(
                    "read receipts: %s[%d]: groups %s committed past its end (%d); no receipt",
                    watched.topic,
                    number,
                    ", ".join(beyond),
                    high,
                )
                continue
            if end > start:
                self._receipt(watched, number, start, end, passed)

    def _committer(self, group: str) -> Consumer:
        if group not in self._committers:
            self._committers[group] = self._consumer(group)
        return self._committers[group]

    @staticmethod
    def _committed(consumer: Consumer, places: list[TopicPartition]) -> dict[int, int]:
        answer = consumer.committed(places, timeout=10)
        _raise_any(answer)
        return {tp.partition: tp.offset for tp in answer if tp.offset >= 0}

    def _receipt(
        self,
        watched: _Watched,
        partition: int,
        start: int,
        end: int,
        passed: Mapping[str, int],
    ) -> None:
        """Receipts for the records in [start, end) of one partition, at most _BATCH of
        them; then this group's offset moves past them."""
        end = min(end, start + _BATCH)
        self.reader.assign([TopicPartition(watched.topic, partition, start)])
        position = start
        try:
            while position < end:
                messages = self.reader.consume(min(500, end - position), timeout=5.0)
                if not messages:
                    break  # the records up to ``end`` are not readable now: next pass
                for message in messages:
                    offset = message.offset()
                    error = message.error()
                    if error is not None:
                        raise KafkaException(error)  # the next pass starts here again
                    if offset is None:
                        continue
                    if offset >= end:
                        position = end
                        break
                    # Of the groups past it, the one least far ahead names it.
                    group = min((c, g) for g, c in passed.items() if c > offset)[1]
                    receipt = receipt_for(watched.partner.id, group, message)
                    self.producer.produce(
                        self.receipt_topic,
                        self.codec.encode(to_avro(receipt)),
                        key=message.key(),
                    )
                    self.written += 1
                    position = offset + 1
        finally:
            self.reader.unassign()
        if position > start:
            self.producer.flush()  # the receipts are in Kafka before the offset moves
            answer = self.reader.commit(
                offsets=[TopicPartition(watched.topic, partition, position)], asynchronous=False
            )
            _raise_any(answer or [])


def _raise_any(places: list[TopicPartition]) -> None:
    """Raise the first per-partition error an answer holds (they are not raised for us)."""
    for place in places:
        if place.error is not None:
            raise KafkaException(place.error)


def run(running: Running) -> None:
    """``liaison connector run read-receipts``: receipts for partners that read Kafka."""
    settings = running.settings
    receipts = ReadReceipts(settings, running.policy.partners)
    names = ", ".join(w.partner.id for w in receipts.watched) or "none"
    running.say(f"read-receipts: the groups of {names}, every {settings.receipt_interval_s:g}s")
    receipts.run(running.stop, settings.receipt_interval_s, running.health)
