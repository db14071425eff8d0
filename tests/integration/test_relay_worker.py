import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    group_is_stable,
    producer_config,
)
from liaison.kafka.embedded import read_log_tail
from liaison.kafka.topics import EVENTS_ACCEPTED, INGEST_TOPICS
from tests.integration.conftest import liaison_command, liaison_env

pytestmark = pytest.mark.integration

PER_TOPIC = 40


@pytest.fixture
def worker(declared_topics, admin, tmp_path):
    settings = declared_topics
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            liaison_command("worker"),
            env=liaison_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not group_is_stable(admin, settings.pipeline_app_id):
            assert process.poll() is None, read_log_tail(log_path, 40)
            assert time.monotonic() < deadline, "worker never joined its group"
            time.sleep(0.5)
        yield process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _committed(settings, group, topics):
    probe = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": group})
    try:
        partitions = [TopicPartition(topic, p) for topic in topics for p in range(12)]
        return sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=10))
    finally:
        probe.close()


def test_worker_relays_every_ingest_event_and_commits_on_stop(declared_topics, worker):
    settings = declared_topics
    process, log_path = worker
    prefix = settings.topic_prefix
    sent: dict[bytes | None, bytes] = {}
    with KafkaProducer(producer_config(settings)) as producer:
        for spec in INGEST_TOPICS:
            for i in range(PER_TOPIC):
                key = f"{spec.name}-{i}".encode()
                sent[key] = f"event {i} from {spec.name}".encode()
                producer.produce(
                    spec.full_name(prefix),
                    sent[key],
                    key=key,
                    headers=[("origin", spec.name.encode())],
                )
    assert producer.delivered == len(sent)

    received: dict[bytes | None, bytes | None] = {}
    monitor = consumer_config(settings, f"{settings.pipeline_app_id}-monitor")
    with KafkaConsumer(monitor, [EVENTS_ACCEPTED.full_name(prefix)]) as consumer:
        deadline = time.monotonic() + 90
        while len(received) < len(sent) and time.monotonic() < deadline:
            for message in consumer.consume(200, timeout_s=0.5):
                got = message.key()
                assert got not in received or received[got] == message.value()
                received[got] = message.value()
                origin = dict(message.headers() or [])["origin"]
                assert isinstance(origin, bytes)
                assert got is not None
                assert got.startswith(origin)
    assert received == sent, read_log_tail(log_path, 40)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, read_log_tail(log_path, 40)
    ingest = [spec.full_name(prefix) for spec in INGEST_TOPICS]
    assert _committed(settings, settings.pipeline_app_id, ingest) == len(sent)
