"""The worker's watchdog on a real worker whose commits Faust has wedged."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from liaison.kafka.client import KafkaProducer, consumer_config, group_is_stable, producer_config
from liaison.kafka.embedded import read_log_tail
from liaison.kafka.topics import INGEST_CEN
from stack.synthetic.generator import Label, TrafficGenerator
from tests.integration.conftest import liaison_env

pytestmark = pytest.mark.integration


def _committed(settings, topic: str) -> int:
    consumer = Consumer({**consumer_config(settings, settings.pipeline_app_id)})
    try:
        (found,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return found.offset
    finally:
        consumer.close()


def test_the_watchdog_repairs_a_partition_whose_commits_stand_still(
    declared_topics, admin, tmp_path
):
    settings = declared_topics.model_copy(update={"watchdog_stall_s": 5.0})
    topic = INGEST_CEN.full_name(settings.topic_prefix)
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.wedged_worker"],
            env={**liaison_env(settings), "WEDGE_TOPIC": topic},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not group_is_stable(admin, settings.pipeline_app_id):
            assert worker.poll() is None, read_log_tail(log_path, 40)
            assert time.monotonic() < deadline, "the worker never joined its group"
            time.sleep(0.5)
        seizures = [
            r
            for r in TrafficGenerator(seed=52).take(400)
            if r.label is Label.SEIZURE and r.topic is INGEST_CEN
        ][:20]
        assert len(seizures) == 20
        with KafkaProducer(producer_config(settings)) as producer:
            for record in seizures:
                producer.produce(topic, record.value, key=record.key, partition=0)
        # Offsets 5 and 6 lose their acknowledgement: Faust commits 5 and no further,
        # until the watchdog seeks back to 5 and the two are read (and acknowledged) again.
        deadline = time.monotonic() + 90
        while (offset := _committed(settings, topic)) < len(seizures):
            assert worker.poll() is None, read_log_tail(log_path, 40)
            assert time.monotonic() < deadline, (offset, read_log_tail(log_path, 40))
            time.sleep(1)
        log = read_log_tail(log_path, 400)
        assert f"watchdog: {topic}[0] stalled (commit)" in log, log
        assert "seeking to 5" in log
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=30)
