"""The pipeline's processes, declared once (see :mod:`liaison.processes`)."""

from __future__ import annotations

from liaison.kafka.topics import (
    AUDIT,
    CONNECT_POSITIONS,
    DEAD_LETTERS,
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
    POLICY_VERSIONS,
    STATE_TOPICS,
)
from liaison.policy import RoutingPolicy
from liaison.processes import Process
from liaison.settings import Settings

__all__ = ["STAGE_TOPICS", "input_topics", "processes"]

# The topics the stages hand events on with, in the order the events take them.
STAGE_TOPICS = (PIPELINE_VERSIONED, PIPELINE_DEDUPED, PIPELINE_WATCH, PIPELINE_ENRICHED)


def input_topics(settings: Settings) -> frozenset[str]:
    """Every topic the stages read their events from (not the tables' changelogs)."""
    return frozenset(s.full_name(settings.topic_prefix) for s in (*INGEST_TOPICS, *STAGE_TOPICS))


def processes(settings: Settings, policy: RoutingPolicy) -> list[Process]:
    prefix = settings.topic_prefix
    changelogs = [s.full_name(prefix) for s in STATE_TOPICS if s is not CONNECT_POSITIONS]
    stages = [s.full_name(prefix) for s in STAGE_TOPICS]
    return [
        Process(
            name="worker",
            part="pipeline",
            summary="The pipeline worker: reads ingest and its own stages, writes deliveries, "
            "audit records, outcomes and dead letters, and keeps its tables' changelogs.",
            command=("worker",),
            principal="liaison-pipeline",
            job="liaison-worker",
            group=settings.pipeline_app_id,
            consumes=(*(s.full_name(prefix) for s in INGEST_TOPICS), *stages),
            reads=tuple(changelogs),
            writes=(
                *stages,
                *changelogs,
                PIPELINE_OUTCOMES.full_name(prefix),
                AUDIT.full_name(prefix),
                POLICY_VERSIONS.full_name(prefix),
                DEAD_LETTERS.full_name(prefix),
                *(prefix + p.topic for p in policy.partners),
            ),
            secrets=("person_key",),
            replicas=None,  # scaled on lag
        )
    ]
