"""What the stages read and write, apart from any stream framework: the event in a record
(or why it cannot be used), the dead letter for a record, and the outcome of a dropped
event. ``pipelines.io`` uses them under Faust; the benchmark's peer uses them too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from liaison import deadletters
from liaison.avro.codec import AvroCodec
from liaison.errors import BadEventError, MappingError, SerdeError
from liaison.identity import record_key
from liaison.model import from_avro
from liaison.model.common import Event
from liaison.model.exchange import DeadLetter, PipelineOutcome
from liaison.timestamps import utc_now
from liaison.validation import validate

__all__ = ["BadEventError", "dead_letter", "outcome", "outcome_key", "read_event"]

Place = tuple[str, int, int]  # topic, partition, offset
Origin = tuple[str | None, int | None, int | None]  # the same, as an event's lineage has it


def read_event(codec: AvroCodec, value: bytes | None, *, check: bool = True) -> Event:
    """The event in ``value``; BadEventError with the reason when it cannot be used."""
    try:
        event = from_avro(Event, codec.decode(value or b""))
    except (SerdeError, MappingError, ValueError, TypeError, KeyError) as exc:
        raise BadEventError(type(exc).__name__, str(exc)) from None
    if check:
        problems = validate(event)
        if problems:
            raise BadEventError("ValidationError", "; ".join(map(str, problems)))
    return event


def dead_letter(  # noqa: PLR0917 - the record, where it was, and why
    value: bytes | None,
    key: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    place: Place,
    stage: str,
    error: BadEventError,
) -> DeadLetter:
    """The dead letter for a record, whole: its bytes, key and headers, where it was read."""
    topic, partition, offset = place
    return deadletters.dead_letter(
        value=value,
        stage=stage,
        kind=error.kind,
        reason=error.reason,
        source=topic,
        partition=partition,
        offset=offset,
        key=key,
        headers=headers,
    )


def outcome(  # noqa: PLR0917 - the event, the stage's verdict, and where the event began
    event: Event,
    stage: str,
    verdict: str,
    reason: str,
    related: str | None = None,
    origin: Origin | None = None,
) -> PipelineOutcome:
    """That ``event`` went no further, and why. ``origin`` is the input's place when the
    event has no lineage yet (the first stage)."""
    envelope = event.envelope
    lineage = envelope.lineage
    topic, partition, offset = (
        origin
        if origin is not None
        else (
            lineage.source_topic,
            lineage.source_partition,
            lineage.source_offset,
        )
    )
    return PipelineOutcome(
        event_id=envelope.event_id,
        source_system=envelope.source_system,
        source_record_id=envelope.source_record_id,
        version=envelope.version,
        stage=stage,
        outcome=verdict,
        reason=reason,
        related_event_id=uuid.UUID(related) if related else None,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        decided_at=utc_now(),
    )


def outcome_key(event: Event) -> bytes:
    return record_key(event).encode()
