"""Dead letters of the connectors' sinks: the record as read from Kafka, and why it failed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from confluent_kafka import Message

from liaison.model.exchange import DeadLetter

__all__ = ["record_dead_letter"]


def record_dead_letter(
    message: Message, *, stage: str, error_class: str, reason: str
) -> DeadLetter:
    """The dead letter of a Kafka record a sink could not deliver. Its id is derived from
    where the record was, so a sink that fails on it again keeps the same id."""
    return DeadLetter(
        dead_letter_id=uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"liaison:{stage}/{message.topic()}/{message.partition()}/{message.offset()}",
        ),
        original_value=message.value() or b"",
        original_key=message.key(),
        source_topic=message.topic() or "",
        source_partition=message.partition(),
        source_offset=message.offset(),
        stage=stage,
        error_class=error_class,
        error_message=reason,
        failed_at=datetime.now(UTC).replace(microsecond=0),
    )
