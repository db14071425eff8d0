"""The policies decisions were made under stay on the record, each under its digest."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from liaison.kafka.client import resolve_bootstrap
from liaison.kafka.topics import POLICY_VERSIONS
from liaison.policy import DEFAULT_POLICY, RoutingPolicy, load_policy
from pipelines.route.versions import kept_policies, publish_policy

pytestmark = pytest.mark.integration


def test_every_policy_used_is_kept_and_a_forged_one_is_not(declared_topics, tmp_path):
    settings = declared_topics
    today = load_policy()
    changed = tmp_path / "routing.toml"
    changed.write_text(DEFAULT_POLICY.read_text().replace("version = 1", "version = 2", 1))
    tomorrow = load_policy(changed)
    assert tomorrow.digest != today.digest
    for policy in (today, tomorrow, today):  # a restart writes the same again
        assert publish_policy(settings, policy)
    assert not publish_policy(settings, RoutingPolicy(version=3, partners=()))  # no file
    # A record whose bytes are not the policy its key names is not taken for it.
    producer = Producer(
        {"bootstrap.servers": resolve_bootstrap(settings), **settings.kafka_client_config()}
    )
    topic = POLICY_VERSIONS.full_name(settings.topic_prefix)
    producer.produce(topic, b"version = 9\npartners = []", key=today.digest.encode())
    assert producer.flush(30) == 0

    kept = kept_policies(settings)
    assert kept == {today.digest: today.source, tomorrow.digest: tomorrow.source}
