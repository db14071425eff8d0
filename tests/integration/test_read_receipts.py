"""Read receipts against the real broker: a partner that reads Kafka itself is receipted for
what its own groups committed, once, and for nothing else."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.read_receipts import ReadReceipts
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_RECEIPT
from liaison.identity import EVENT_ID_HEADER, VERSION_HEADER
from liaison.kafka.client import read_to_end, resolve_bootstrap
from liaison.kafka.topics import RECEIPTS
from liaison.policy import load_policy

pytestmark = pytest.mark.integration


def _commit(settings, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": resolve_bootstrap(settings),
            "group.id": group,
            **settings.kafka_client_config(),
        }
    )
    places = [TopicPartition(topic, p, o) for p, o in offsets.items()]
    consumer.commit(offsets=places, asynchronous=False)
    consumer.close()


def _receipts(settings) -> list[dict[str, Any]]:
    codec = AvroCodec(DELIVERY_RECEIPT)
    topic = RECEIPTS.full_name(settings.topic_prefix)
    return [codec.decode(m.value() or b"") for m in read_to_end(settings, [topic], idle_s=10)]


def test_a_partner_is_receipted_for_what_its_groups_committed_once(declared_topics):
    settings = declared_topics
    bootstrap = resolve_bootstrap(settings)
    policy = load_policy()
    europol = policy.partner("EUROPOL")
    topic = settings.topic_prefix + europol.topic
    sent = {}  # (partition, offset) -> (event id, record id, version)
    producer = Producer({"bootstrap.servers": bootstrap, **settings.kafka_client_config()})
    for partition, count in ((0, 6), (1, 3)):
        for n in range(count):
            event_id, record_id = uuid.uuid4(), f"NL-NCEN-2026-{partition}{n:05}"
            producer.produce(
                topic,
                b"not decoded",
                key=f"NCEN:{record_id}".encode(),
                partition=partition,
                headers=[(EVENT_ID_HEADER, str(event_id).encode()), (VERSION_HEADER, b"3")],
            )
            sent[partition, n] = (event_id, record_id, 3)
    producer.produce(topic, b"an older record", key=b"POLICE:A-1", partition=1)
    assert producer.flush(30) == 0

    receipts = ReadReceipts(settings, policy.partners, bootstrap)
    try:
        assert receipts.pass_once() == 0  # nobody of the partner read anything yet
        # Another partner's group on this topic is not this partner's read.
        _commit(settings, "partner-interpol.analysis", topic, {0: 6, 1: 4})
        _commit(settings, "partner-europolice.analysis", topic, {0: 6, 1: 4})  # not a prefix
        # A commit past a partition's end (an empty one here) is about no record it holds.
        _commit(settings, "partner-europol.stray", topic, {2: 50})
        assert receipts.pass_once() == 0

        _commit(settings, "partner-europol.analysis", topic, {0: 4})
        assert receipts.pass_once() == 4
        assert receipts.pass_once() == 0  # once
        _commit(settings, "partner-europol.archive", topic, {0: 6, 1: 4})
        assert receipts.pass_once() == 2 + 4
    finally:
        receipts.close()
    restarted = ReadReceipts(settings, policy.partners, bootstrap)
    try:
        assert restarted.pass_once() == 0  # its own commits say how far it got
    finally:
        restarted.close()

    got = _receipts(settings)
    places = sorted((r["source_partition"], r["source_offset"]) for r in got)
    assert places == sorted([*sent, (1, 3)])  # each record once, none it was not told of
    by_place = {(r["source_partition"], r["source_offset"]): r for r in got}
    for (partition, offset), (event_id, record_id, version) in sent.items():
        receipt = by_place[partition, offset]
        assert receipt["event_id"] == event_id
        assert (receipt["source_system"], receipt["source_record_id"]) == ("NCEN", record_id)
        assert receipt["event_version"] == version
        assert receipt["partner_id"] == "EUROPOL"
        assert receipt["outcome"] == "DELIVERED"
        first = partition == 0 and offset < 4
        assert receipt["sink"] == (
            "group:partner-europol.analysis" if first else "group:partner-europol.archive"
        )
    older = by_place[1, 3]  # no headers: known by its key alone
    assert (older["event_id"], older["event_version"]) == (None, None)
    assert (older["source_system"], older["source_record_id"]) == ("POLICE", "A-1")
