"""The embedded broker's cluster mode: three combined nodes that keep every acknowledged
write through the loss of any one of them."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from liaison.kafka.cluster import EmbeddedCluster
from liaison.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = EmbeddedCluster(tmp_path_factory.mktemp("cluster"), load_settings({}).cache_dir)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _security(cluster: EmbeddedCluster) -> dict[str, str]:
    return cluster.node(1).admin_security()


def _produce(cluster: EmbeddedCluster, topic: str, values: list[bytes]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": cluster.bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": 60000,
            **_security(cluster),
        }
    )
    failed: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failed.append(str(error))

    for value in values:
        producer.produce(topic, value, partition=0, on_delivery=delivered)
    assert producer.flush(90) == 0
    assert not failed, failed


def _read_all(cluster: EmbeddedCluster, topic: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap_servers,
            "group.id": f"check-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **_security(cluster),
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return values
                continue
            values.append(message.value() or b"")
    finally:
        consumer.close()
    raise AssertionError("the partition was not read to its end")


def test_three_nodes_replicate_and_refuse_unsafe_elections(cluster):
    admin = cluster.admin()
    nodes = admin.describe_cluster().result(timeout=30).nodes
    assert sorted(n.id for n in nodes) == [1, 2, 3]
    admin.create_topics([NewTopic("replicated", 1, 3)])["replicated"].result(timeout=30)
    configs = admin.describe_configs(
        [
            __import__("confluent_kafka.admin", fromlist=["ConfigResource"]).ConfigResource(
                "topic", "replicated"
            )
        ]
    )
    (found,) = configs.values()
    config = found.result(timeout=30)
    assert config["min.insync.replicas"].value == "2"
    assert config["unclean.leader.election.enable"].value == "false"


def test_acknowledged_writes_survive_the_leaders_death(cluster):
    admin = cluster.admin()
    admin.create_topics([NewTopic("survives", 1, 3)])["survives"].result(timeout=30)
    before = [f"before-{n}".encode() for n in range(200)]
    _produce(cluster, "survives", before)
    leader = cluster.leader_of("survives")
    cluster.kill(leader)
    assert leader not in cluster.running()
    after = [f"after-{n}".encode() for n in range(200)]
    _produce(cluster, "survives", after)  # two replicas left: min.insync.replicas is met
    assert _read_all(cluster, "survives") == before + after
    cluster.restart(leader)
    assert sorted(cluster.running()) == [1, 2, 3]


def test_the_quorum_elects_another_controller_when_its_leader_dies(cluster):
    controller = cluster.active_controller()
    cluster.kill(controller)
    deadline = time.monotonic() + 60
    while cluster.active_controller() == controller:
        assert time.monotonic() < deadline, "no other controller was elected"
        time.sleep(0.5)
    cluster.restart(controller)
    # A node that was hung comes back and the cluster carries on.
    cluster.pause(controller)
    time.sleep(2)
    cluster.resume(controller)
    admin = cluster.admin()
    admin.create_topics([NewTopic("after-hang", 1, 3)])["after-hang"].result(timeout=60)
