"""The lag exporter against the real broker: records behind and the age of the oldest."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from liaison.kafka.client import resolve_bootstrap
from liaison.kafka.lag import LagExporter, watched_groups
from liaison.metrics import LagMetrics
from liaison.policy import load_policy

pytestmark = pytest.mark.integration


def test_lag_in_records_and_seconds(declared_topics):
    settings = declared_topics
    bootstrap = resolve_bootstrap(settings)
    topic = settings.topic_prefix + "partner.nl-police"
    group = f"{settings.client_id}-nl-police-sink"
    assert watched_groups(settings, load_policy())[group] == [topic]

    # Ten records on partition 0, written (by their timestamps) 10 minutes to 1 minute ago.
    now_ms = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": bootstrap, **settings.kafka_client_config()})
    for i in range(10):
        producer.produce(topic, b"x", partition=0, timestamp=now_ms - (10 - i) * 60_000)
    assert producer.flush(30) == 0

    registry = CollectorRegistry()
    exporter = LagExporter(settings, {group: [topic]}, LagMetrics.create(registry), bootstrap)
    try:
        (reading,) = exporter.measure()
        assert reading.messages == 10  # nothing committed: all behind
        assert 595 <= reading.seconds <= 660  # the oldest is ten minutes old

        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, **settings.kafka_client_config()}
        )
        consumer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
        consumer.close()
        (reading,) = exporter.measure()
        assert reading.messages == 3
        assert 175 <= reading.seconds <= 240  # the record at offset 7: three minutes old

        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, **settings.kafka_client_config()}
        )
        consumer.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
        consumer.close()
        (reading,) = exporter.measure()
        assert (reading.messages, reading.seconds) == (0, 0.0)
    finally:
        exporter.close()
