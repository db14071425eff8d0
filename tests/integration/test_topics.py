import time

import pytest
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from liaison.errors import TopicError
from liaison.kafka.topics import AUDIT, INGEST_CEN, TOPICS, TopicOutcome, ensure_topics

pytestmark = pytest.mark.integration


def _configs(admin, name):
    resource = ConfigResource(ResourceType.TOPIC, name)
    return {k: v.value for k, v in admin.describe_configs([resource])[resource].result().items()}


def _eventually_config(admin, name, key, value, timeout_s=10.0):
    """Config changes reach describe_configs a moment after the alter returns."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _configs(admin, name)[key] == value:
            return True
        time.sleep(0.1)
    return False


def test_creates_declared_partitions_and_configs_and_is_idempotent(settings, admin):
    prefix = settings.topic_prefix
    first = ensure_topics(admin, TOPICS, prefix=prefix, replication_override=1)
    assert first == {spec.full_name(prefix): TopicOutcome.CREATED for spec in TOPICS}

    metadata = admin.list_topics(timeout=10)
    for spec in TOPICS:
        topic = metadata.topics[spec.full_name(prefix)]
        assert len(topic.partitions) == spec.partitions, spec.name
        configs = _configs(admin, spec.full_name(prefix))
        for key, value in spec.effective(1)[1].items():
            assert configs[key] == value, (spec.name, key)
    assert _configs(admin, AUDIT.full_name(prefix))["retention.ms"] == "-1"

    second = ensure_topics(admin, TOPICS, prefix=prefix, replication_override=1)
    assert set(second.values()) == {TopicOutcome.UNCHANGED}


def test_config_drift_is_put_back(settings, admin):
    prefix = settings.topic_prefix
    ensure_topics(admin, [INGEST_CEN], prefix=prefix, replication_override=1)
    name = INGEST_CEN.full_name(prefix)
    drift = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([drift])[drift].result()
    assert _eventually_config(admin, name, "retention.ms", "1000")

    outcome = ensure_topics(admin, [INGEST_CEN], prefix=prefix, replication_override=1)
    assert outcome == {name: TopicOutcome.RECONFIGURED}
    assert _eventually_config(admin, name, "retention.ms", INGEST_CEN.config["retention.ms"])


def test_partition_mismatch_is_reported_not_changed(settings, admin):
    name = INGEST_CEN.full_name(settings.topic_prefix)
    admin.create_topics([NewTopic(name, 2, 1)])[name].result()
    with pytest.raises(TopicError, match=f"{name}: has 2 partitions, declared 12"):
        ensure_topics(admin, [INGEST_CEN], prefix=settings.topic_prefix, replication_override=1)
    assert len(admin.list_topics(timeout=10).topics[name].partitions) == 2


def test_production_replication_on_one_broker_explains_the_override(settings, admin):
    with pytest.raises(TopicError, match="LIAISON_TOPIC_REPLICATION_FACTOR=1"):
        ensure_topics(admin, [INGEST_CEN], prefix=settings.topic_prefix)
    assert INGEST_CEN.full_name(settings.topic_prefix) not in admin.list_topics(timeout=10).topics
