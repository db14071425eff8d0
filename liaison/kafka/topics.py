"""Every Kafka topic Liaison uses, declared once, and the code that makes a cluster match.

Names here are base names; the deployment's ``topic_prefix`` setting goes in
front (``liaison.`` by default). Replication is declared for production (three
brokers, two in sync); a single-node cluster overrides it with
``LIAISON_TOPIC_REPLICATION_FACTOR=1``, and ``min.insync.replicas`` follows it down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
    TopicMetadata,
)

from liaison.errors import TopicError
from liaison.kafka.client import admin_result

__all__ = [
    "AUDIT",
    "CONNECT_POSITIONS",
    "DEAD_LETTERS",
    "INGEST_CEN",
    "INGEST_CISPLUS",
    "INGEST_POLICE",
    "INGEST_TOPICS",
    "PIPELINE_DEDUPED",
    "PIPELINE_ENRICHED",
    "PIPELINE_OUTCOMES",
    "PIPELINE_TOPICS",
    "PIPELINE_VERSIONED",
    "PIPELINE_WATCH",
    "POLICY_VERSIONS",
    "RECEIPTS",
    "STATE_FINGERPRINTS",
    "STATE_RECIPIENTS",
    "STATE_TOPICS",
    "STATE_VERSIONS",
    "STATE_WATCH_ALERTS",
    "STATE_WATCH_HITS",
    "STATE_WATCH_SEEN",
    "TOPICS",
    "TopicOutcome",
    "TopicSpec",
    "ensure_topics",
    "partner_topic",
    "topic_by_name",
]

log = logging.getLogger(__name__)

_DAY_MS = 24 * 60 * 60 * 1000
_MAX_MESSAGE_BYTES = 1024 * 1024


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class TopicSpec:
    """One declared topic: what it carries and how the broker must keep it."""

    name: str
    partitions: int
    description: str
    replication_factor: int = 3
    config: Mapping[str, str] = field(default_factory=lambda: _frozen({}))

    def full_name(self, prefix: str) -> str:
        return prefix + self.name

    def effective(self, replication_override: int | None) -> tuple[int, dict[str, str]]:
        """Replication factor and configs to apply, after an optional override."""
        replication = replication_override or self.replication_factor
        config = dict(self.config)
        if "min.insync.replicas" in config:
            config["min.insync.replicas"] = str(
                min(int(config["min.insync.replicas"]), replication)
            )
        return replication, config


def _stream_config(retention_days: int) -> Mapping[str, str]:
    return _frozen(
        {
            "cleanup.policy": "delete",
            "retention.ms": str(retention_days * _DAY_MS),
            "min.insync.replicas": "2",
            "max.message.bytes": str(_MAX_MESSAGE_BYTES),
            "message.timestamp.type": "CreateTime",
        }
    )


# Partition counts bound how many workers can share a stage; 12 divides evenly
# among 1, 2, 3, 4, 6 and 12 workers.
INGEST_CEN = TopicSpec(
    "ingest.cen",
    12,
    "Events from the CEN source connector (customs seizures, non-nominal).",
    config=_stream_config(7),
)
INGEST_CISPLUS = TopicSpec(
    "ingest.cisplus",
    12,
    "Events from the CIS+ source connector (EU customs records).",
    config=_stream_config(7),
)
INGEST_POLICE = TopicSpec(
    "ingest.police",
    12,
    "Events from the police source connector (alerts, watchlist entries).",
    config=_stream_config(7),
)
PIPELINE_VERSIONED = TopicSpec(
    "pipeline.versioned",
    12,
    "Events past the version check (new records and amendments), keyed by content "
    "fingerprint for seizures so that two systems' reports of one seizure meet.",
    config=_stream_config(7),
)
PIPELINE_DEDUPED = TopicSpec(
    "pipeline.deduped",
    12,
    "Events past both dedupe steps, keyed by source record, waiting for enrichment.",
    config=_stream_config(7),
)
PIPELINE_WATCH = TopicSpec(
    "pipeline.watch",
    12,
    "One probe per watched identifier of each alert and customs record, keyed by the "
    "identifier, for the watchlist join.",
    config=_stream_config(7),
)
PIPELINE_ENRICHED = TopicSpec(
    "pipeline.enriched",
    12,
    "Enriched events and watchlist hits, keyed by source record, waiting for routing.",
    config=_stream_config(7),
)
PIPELINE_OUTCOMES = TopicSpec(
    "pipeline.outcomes",
    12,
    "One record per accepted event that a stage dropped, with the reason (replays, "
    "stale versions, merged reports, events nobody may receive).",
    config=_stream_config(30),
)
DEAD_LETTERS = TopicSpec(
    "deadletter",
    3,
    "Every record a stage or connector could not handle: original bytes, origin and reason.",
    config=_stream_config(30),
)
AUDIT = TopicSpec(
    "audit",
    12,
    "One delivery audit record per disclosure to a partner (LED Art. 25); never expires here, "
    "an archive downstream holds it for the legal retention period.",
    config=_frozen({**_stream_config(0), "retention.ms": "-1"}),
)


RECEIPTS = TopicSpec(
    "receipts",
    6,
    "One receipt per record a sink took from a partner topic: delivered, refused or "
    "dead-lettered at the partner's side; kept like the audit.",
    config=_frozen({**_stream_config(0), "retention.ms": "-1"}),
)


POLICY_VERSIONS = TopicSpec(
    "audit.policies",
    1,
    "Every routing policy a worker decided under, keyed by its digest (the audit records' "
    "policy_digest), so a past decision can be explained under the policy that made it.",
    # Never compacted: a later record under a digest (a restart writes the policy again)
    # must not be able to replace the first; readers keep one per digest.
    config=_frozen({**_stream_config(0), "retention.ms": "-1"}),
)


def _state(name: str, description: str) -> TopicSpec:
    """A stage's state changelog: compacted, so a restarted worker rebuilds its tables."""
    return TopicSpec(
        f"state.{name}",
        12,
        description,
        config=_frozen(
            {
                "cleanup.policy": "compact",
                "min.insync.replicas": "2",
                "max.message.bytes": str(_MAX_MESSAGE_BYTES),
                "min.compaction.lag.ms": str(60 * 60 * 1000),
            }
        ),
    )


STATE_VERSIONS = _state("dedupe-versions", "Versions seen per source record.")
STATE_FINGERPRINTS = _state("dedupe-fingerprints", "Seizure reports per content fingerprint.")
STATE_WATCH_ALERTS = _state("watch-alerts", "Police alerts per watched identifier.")
STATE_WATCH_SEEN = _state("watch-seen", "Recent customs records per identifier.")
STATE_WATCH_HITS = _state(
    "watch-hits", "Hits made per identifier, kept to erase them with either record."
)
STATE_RECIPIENTS = _state("route-recipients", "Partners that received each source record.")
CONNECT_POSITIONS = _state(
    "connect-positions", "Where each connector's source stopped, per input (file, stream)."
)

INGEST_TOPICS: tuple[TopicSpec, ...] = (INGEST_CEN, INGEST_CISPLUS, INGEST_POLICE)
PIPELINE_TOPICS: tuple[TopicSpec, ...] = (
    PIPELINE_VERSIONED,
    PIPELINE_DEDUPED,
    PIPELINE_WATCH,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
)
STATE_TOPICS: tuple[TopicSpec, ...] = (
    CONNECT_POSITIONS,
    STATE_VERSIONS,
    STATE_FINGERPRINTS,
    STATE_WATCH_ALERTS,
    STATE_WATCH_SEEN,
    STATE_WATCH_HITS,
    STATE_RECIPIENTS,
)
TOPICS: tuple[TopicSpec, ...] = (
    *INGEST_TOPICS,
    *PIPELINE_TOPICS,
    *STATE_TOPICS,
    DEAD_LETTERS,
    AUDIT,
    POLICY_VERSIONS,
    RECEIPTS,
)


def partner_topic(topic_name: str) -> TopicSpec:
    """The delivery topic of one partner of the routing policy (its name comes from there)."""
    return TopicSpec(
        topic_name,
        6,
        "Deliveries to one partner agency: only what it may receive, in the form it may "
        "receive it; read by that partner alone (ACLs).",
        config=_stream_config(14),
    )


def topic_by_name(name: str) -> TopicSpec:
    """The declared topic with this base name."""
    for spec in TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(name)


class TopicOutcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    RECONFIGURED = "reconfigured"


def ensure_topics(
    admin: AdminClient,
    specs: Iterable[TopicSpec],
    *,
    prefix: str,
    replication_override: int | None = None,
    timeout_s: float = 30.0,
) -> dict[str, TopicOutcome]:
    """Create the missing topics and bring existing ones to their declared configs.

    Safe to run again and again. A topic whose partition count or replication
    differs from the declaration is not changed behind anyone's back (more
    partitions would move keys to other partitions): it is reported in a
    :class:`TopicError` naming every such topic.
    """
    specs = list(specs)
    metadata = admin.list_topics(timeout=timeout_s)
    brokers = len(metadata.brokers)
    outcome: dict[str, TopicOutcome] = {}
    problems: list[str] = []
    to_create: list[NewTopic] = []
    to_check: list[tuple[str, dict[str, str]]] = []

    for spec in specs:
        name = spec.full_name(prefix)
        replication, config = spec.effective(replication_override)
        if replication > brokers:
            problems.append(
                f"{name}: wants {replication} replicas but the cluster has {brokers} broker(s); "
                "on a single-node cluster set LIAISON_TOPIC_REPLICATION_FACTOR=1"
            )
            continue
        existing = metadata.topics.get(name)
        if existing is None or existing.error is not None:
            to_create.append(NewTopic(name, spec.partitions, replication, config=config))
            continue
        _check_shape(name, existing, spec.partitions, replication, problems)
        to_check.append((name, config))

    if to_create:
        outcome.update(_create(admin, to_create, timeout_s, problems))
        # A topic created by someone else since the metadata above (the broker answers
        # "already exists", possibly before its metadata shows it) is checked like any
        # existing one: its shape may not be the declared one.
        raced = [t for t in to_create if outcome.get(t.topic) is TopicOutcome.UNCHANGED]
        if raced and _wait_visible(admin, [t.topic for t in raced], timeout_s):
            topics = admin.list_topics(timeout=timeout_s).topics
            for topic in raced:
                _check_shape(
                    topic.topic,
                    topics[topic.topic],
                    topic.num_partitions,
                    topic.replication_factor,
                    problems,
                )
                to_check.append((topic.topic, dict(topic.config or {})))
        elif raced:
            names = ", ".join(t.topic for t in raced)
            problems.append(f"created elsewhere but not yet visible in metadata: {names}")

    for name, config in to_check:
        outcome[name] = _reconcile_config(admin, name, config, timeout_s, problems)

    created = [name for name, result in outcome.items() if result is TopicOutcome.CREATED]
    if created and not _wait_visible(admin, created, timeout_s):
        problems.append(f"created but not yet visible in metadata: {', '.join(created)}")

    if problems:
        raise TopicError("topics disagree with the declaration:\n  " + "\n  ".join(problems))
    return outcome


def _check_shape(
    name: str, existing: TopicMetadata, partitions: int, replication: int, problems: list[str]
) -> None:
    """Report where an existing topic's partitions or replication differ from the
    declaration (neither is changed here)."""
    have_partitions = len(existing.partitions)
    have_replication = len(next(iter(existing.partitions.values())).replicas)
    if have_partitions != partitions:
        problems.append(f"{name}: has {have_partitions} partitions, declared {partitions}")
    if have_replication != replication:
        problems.append(f"{name}: has replication {have_replication}, declared {replication}")


def _create(
    admin: AdminClient, topics: list[NewTopic], timeout_s: float, problems: list[str]
) -> dict[str, TopicOutcome]:
    outcome = {}
    for name, future in admin.create_topics(topics, request_timeout=timeout_s).items():
        try:
            admin_result(future, timeout_s)
            outcome[name] = TopicOutcome.CREATED
            log.info("created topic %s", name)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # created meanwhile
                outcome[name] = TopicOutcome.UNCHANGED
            else:
                problems.append(f"{name}: could not be created: {error.str()}")
    return outcome


def _wait_visible(admin: AdminClient, names: list[str], timeout_s: float) -> bool:
    """Wait until the broker serves metadata for every named topic, so callers can use them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout_s).topics
        if all(name in topics and topics[name].error is None for name in names):
            return True
        time.sleep(0.1)
    return False


def _reconcile_config(
    admin: AdminClient, name: str, wanted: Mapping[str, str], timeout_s: float, problems: list[str]
) -> TopicOutcome:
    resource = ConfigResource(ResourceType.TOPIC, name)
    current = admin_result(
        admin.describe_configs([resource], request_timeout=timeout_s)[resource], timeout_s
    )
    drift = {
        key: value
        for key, value in wanted.items()
        if key not in current or current[key].value != value
    }
    if not drift:
        return TopicOutcome.UNCHANGED
    change = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in drift.items()
        ],
    )
    try:
        admin_result(
            admin.incremental_alter_configs([change], request_timeout=timeout_s)[change], timeout_s
        )
    except KafkaException as exc:
        problems.append(f"{name}: could not set {sorted(drift)}: {exc.args[0].str()}")
        return TopicOutcome.UNCHANGED
    log.info("reconfigured topic %s: %s", name, ", ".join(sorted(drift)))
    return TopicOutcome.RECONFIGURED
