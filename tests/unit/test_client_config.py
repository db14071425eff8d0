import pytest
from confluent_kafka import KafkaError

from liaison.errors import ConfigurationError
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    commit_can_wait,
    consumer_config,
    producer_config,
    resolve_bootstrap,
)
from liaison.settings import load_settings


@pytest.fixture
def settings(tmp_path):
    return load_settings({}, state_dir=tmp_path)


def test_producers_are_idempotent_and_wait_for_all_replicas(settings):
    config = producer_config(settings, "127.0.0.1:1")
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["bootstrap.servers"] == "127.0.0.1:1"


@pytest.mark.parametrize("weaker", [{"acks": 1}, {"acks": "0"}, {"enable.idempotence": False}])
def test_weaker_producer_guarantees_are_refused(settings, weaker):
    with pytest.raises(ConfigurationError):
        producer_config(settings, "127.0.0.1:1", **weaker)


def test_consumers_never_store_offsets_by_themselves(settings):
    config = consumer_config(settings, "g", "127.0.0.1:1")
    assert config["enable.auto.offset.store"] is False
    assert config["group.id"] == "g"
    with pytest.raises(ConfigurationError):
        consumer_config(settings, "g", "127.0.0.1:1", **{"enable.auto.offset.store": True})


def test_unknown_client_keys_are_refused(settings):
    with pytest.raises(ConfigurationError, match=r"no\.such\.property"):
        KafkaProducer(producer_config(settings, "127.0.0.1:1", **{"no.such.property": 1}))
    with pytest.raises(ConfigurationError, match=r"no\.such\.property"):
        KafkaConsumer(
            consumer_config(settings, "g", "127.0.0.1:1", **{"no.such.property": 1}), ["t"]
        )


def test_configured_bootstrap_wins(tmp_path):
    settings = load_settings({"LIAISON_BOOTSTRAP_SERVERS": "kafka-0:9092"}, state_dir=tmp_path)
    assert resolve_bootstrap(settings) == "kafka-0:9092"


def test_no_bootstrap_and_no_embedded_broker_says_what_to_do(settings):
    with pytest.raises(ConfigurationError, match="LIAISON_BOOTSTRAP_SERVERS"):
        resolve_bootstrap(settings)


def test_keys_are_partitioned_as_the_java_client_and_the_pipeline_do(settings):
    assert producer_config(settings, "127.0.0.1:1")["partitioner"] == "murmur2_random"


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,  # seen in the chaos run: a sink stopped on it
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError._TRANSPORT,
    ],
)
def test_a_commit_waits_out_a_moving_coordinator(code):
    assert commit_can_wait(KafkaError(code))


@pytest.mark.parametrize(
    "error",
    [
        KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED),
        KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED),
        KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, fatal=True),
    ],
)
def test_a_commit_that_cannot_succeed_still_stops_the_process(error):
    assert not commit_can_wait(error)
