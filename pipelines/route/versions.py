"""The routing policies decisions were made under, kept on the ``audit.policies`` topic.

Every audit record names the policy that decided by its digest (the SHA-256 of the policy
file). A worker writes the file it runs with to the topic, keyed by that digest, before it
decides anything, and waits until Kafka has it; the topic is compacted and never expires,
so it holds one copy of each policy ever used, for as long as the audit records that name
them. ``liaison route explain --past`` reads it back to explain a past decision under the
policy that made it, not under today's.
"""

from __future__ import annotations

from liaison.kafka.client import KafkaProducer, producer_config, read_to_end
from liaison.kafka.topics import POLICY_VERSIONS
from liaison.policy import RoutingPolicy, policy_digest
from liaison.settings import Settings

__all__ = ["kept_policies", "publish_policy"]


def publish_policy(settings: Settings, policy: RoutingPolicy, bootstrap: str | None = None) -> bool:
    """Keep ``policy``'s file on the policies topic; True once Kafka has it, False for a
    policy built in code (it has no file to keep)."""
    if not policy.source:
        return False
    topic = POLICY_VERSIONS.full_name(settings.topic_prefix)
    with KafkaProducer(producer_config(settings, bootstrap)) as producer:
        producer.produce(topic, policy.source, key=policy.digest.encode())
        producer.flush()
    return True


def kept_policies(settings: Settings, bootstrap: str | None = None) -> dict[str, bytes]:
    """Every policy file on the policies topic, by digest. A record whose bytes do not hash
    to its key is left out: it cannot be the policy an audit record names."""
    topic = POLICY_VERSIONS.full_name(settings.topic_prefix)
    kept: dict[str, bytes] = {}
    for message in read_to_end(settings, [topic], bootstrap, idle_s=20):
        raw, key = message.value() or b"", (message.key() or b"").decode("ascii", "replace")
        if policy_digest(raw) == key:
            kept[key] = raw
    return kept
