import shlex
import socket
from pathlib import Path

import pytest

from liaison.errors import BrokerStartError, EmbeddedKafkaError
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    make_admin,
    producer_config,
)
from liaison.kafka.embedded import BrokerAlreadyRunningError, EmbeddedKafka
from liaison.kafka.topics import INGEST_CEN, ensure_topics
from liaison.policy import load_policy
from liaison.settings import load_settings
from tests.integration.conftest import liaison_env, run_liaison

pytestmark = pytest.mark.integration


def test_round_trip_through_the_embedded_broker(settings, admin):
    ensure_topics(admin, [INGEST_CEN], prefix=settings.topic_prefix, replication_override=1)
    topic = INGEST_CEN.full_name(settings.topic_prefix)
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(50)}
    with KafkaProducer(producer_config(settings)) as producer:
        for key, value in sent.items():
            producer.produce(topic, value, key=key, headers=[("h", b"1")])
    assert producer.delivered == 50
    assert producer.failed == 0

    received = {}
    with KafkaConsumer(consumer_config(settings, settings.pipeline_app_id), [topic]) as consumer:
        for _ in range(60):
            for message in consumer.consume(100, timeout_s=0.5):
                received[message.key()] = message.value()
                assert message.headers() == [("h", b"1")]
                consumer.store(message)
            if len(received) == len(sent):
                break
    assert received == sent


def test_second_start_reports_the_running_broker(embedded_kafka, kafka):
    again = EmbeddedKafka(embedded_kafka.data_dir, embedded_kafka.cache_dir)
    with pytest.raises(BrokerAlreadyRunningError) as caught:
        again.start()
    assert caught.value.info.pid == kafka.pid
    assert caught.value.info.bootstrap_servers == kafka.bootstrap_servers


def test_taken_port_fails_with_the_brokers_own_words(tmp_path, embedded_kafka):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = EmbeddedKafka(tmp_path / "kafka", embedded_kafka.cache_dir, port=port, heap_mb=256)
        with pytest.raises(BrokerStartError) as caught:
            broker.start()
    message = str(caught.value)
    assert "Address already in use" in message
    assert f"127.0.0.1:{port}" in message
    assert broker.status() is None
    assert not broker.state_file.exists()


def _alive(pid: int) -> bool:
    return (
        Path(f"/proc/{pid}").exists()
        and b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def test_cli_start_twice_status_stop(tmp_path, embedded_kafka):
    settings = load_settings(
        {}, state_dir=tmp_path / "state", cache_dir=embedded_kafka.cache_dir, kafka_heap_mb=256
    )
    env = liaison_env(settings)
    env.pop("LIAISON_BOOTSTRAP_SERVERS", None)

    first = run_liaison("kafka", "start", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("started Kafka")
    info = EmbeddedKafka.from_settings(settings).status()
    assert info is not None
    assert info.secure
    assert f"listeners: {info.listeners}" in first.stdout
    assert "liaison-pipeline" in first.stdout  # the principals it created
    # No process goes looking for the embedded broker: `kafka env` says where it is, as whom.
    unset = run_liaison("topics", "create", env=env)
    assert unset.returncode == 2
    assert "LIAISON_BOOTSTRAP_SERVERS" in unset.stderr
    try:
        second = run_liaison("kafka", "start", env=env)
        assert second.returncode == 0, second.stderr
        assert f"already running: {info.bootstrap_servers} (pid {info.pid})" in second.stdout

        status = run_liaison("kafka", "status", env=env)
        assert status.returncode == 0
        assert info.bootstrap_servers in status.stdout

        exports = run_liaison("kafka", "env", env=env)
        assert exports.returncode == 0, exports.stderr
        pointed = dict(env)
        for line in exports.stdout.splitlines():
            verb, _, assignment = line.partition(" ")
            name, _, value = assignment.partition("=")
            if verb == "export":
                pointed[name] = shlex.split(value)[0]
        assert pointed["LIAISON_BOOTSTRAP_SERVERS"] == info.bootstrap_servers
        assert pointed["LIAISON_SASL_USERNAME"] == "admin"
        created = run_liaison("topics", "create", env=pointed)
        assert created.returncode == 0, created.stderr
        assert "created" in created.stdout

        issued = run_liaison("kafka", "certificate", "partner-europol", env=env)
        assert issued.returncode == 0, issued.stderr
        paths = dict(line.split(maxsplit=1) for line in issued.stdout.splitlines())
        first_certificate = Path(paths["certificate"]).read_bytes()
        assert (Path(paths["key"]).stat().st_mode & 0o077) == 0
        renewed = run_liaison("kafka", "certificate", "partner-europol", "--renew", env=env)
        assert renewed.returncode == 0, renewed.stderr
        assert Path(paths["certificate"]).read_bytes() != first_certificate
        # A process is no partner: it logs in with SCRAM, it gets no certificate.
        refused = run_liaison("kafka", "certificate", "liaison-pipeline", env=env)
        assert refused.returncode != 0
        assert "no partner that reads Kafka" in refused.stderr
    finally:
        stopped = run_liaison("kafka", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped Kafka (pid {info.pid})" in stopped.stdout
    assert not _alive(info.pid)

    after = run_liaison("kafka", "status", env=env)
    assert after.returncode == 3
    assert "not running" in after.stdout


def test_restart_keeps_the_cluster_its_topics_and_its_users(tmp_path, embedded_kafka):
    broker = EmbeddedKafka(tmp_path / "kafka", embedded_kafka.cache_dir, heap_mb=256)
    settings = load_settings({}, topic_prefix="restart.")
    with broker:
        first = broker.status()
        assert first is not None
        admin = make_admin(broker.client_settings(settings))
        ensure_topics(admin, [INGEST_CEN], prefix="restart.", replication_override=1)
        broker.grant(settings, load_policy())
    with broker:
        second = broker.status()
        assert second is not None
        assert second.cluster_id == first.cluster_id
        worker = broker.client_settings(settings, "liaison-pipeline")
        topics = make_admin(worker).list_topics(timeout=10).topics
        # The worker sees its topic (a user made before the restart still logs in) ...
        assert INGEST_CEN.full_name("restart.") in topics


def test_a_plaintext_data_dir_is_not_started_secured(tmp_path, embedded_kafka):
    plain = EmbeddedKafka(tmp_path / "kafka", embedded_kafka.cache_dir, heap_mb=256, secure=False)
    with plain:
        info = plain.status()
        assert info is not None
        assert not info.secure
    secured = EmbeddedKafka(tmp_path / "kafka", embedded_kafka.cache_dir, heap_mb=256)
    with pytest.raises(EmbeddedKafkaError, match="plaintext broker's storage"):
        secured.start()
