"""What the stages read and write, apart from any stream framework: the event in a record
(or why it cannot be used), the dead letter for a record, and the outcome of a dropped
event. ``pipelines.io`` uses them under Faust; the benchmark's peer uses them too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from liaison.avro.codec import AvroCodec
from liaison.errors import MappingError, SerdeError
from liaison.model import from_avro
from liaison.model.common import Event
from liaison.model.exchange import DeadLetter, Header, PipelineOutcome
from liaison.timestamps import utc_now
from liaison.validation import validate

__all__ = ["BadEventError", "dead_letter", "outcome", "outcome_key", "read_event"]

# Dead-letter ids are derived from where the record was, so a replayed failure
# keeps its id.
_DEAD_LETTER_NAMESPACE = uuid.UUID("0d3c1f8e-2b47-5a6c-8d9e-7f1a2b3c4d5e")

Place = tuple[str, int, int]  # topic, partition, offset
Origin = tuple[str | None, int | None, int | None]  # the same, as an event's lineage has it


class BadEventError(Exception):
    """An input that is not a valid event: it goes to the dead-letter topic."""


def read_event(codec: AvroCodec, value: bytes | None, *, check: bool = True) -> Event:
    """The event in ``value``; BadEventError with the reason when it cannot be used."""
    try:
        event = from_avro(Event, codec.decode(value or b""))
    except (SerdeError, MappingError, ValueError, TypeError, KeyError) as exc:
        raise BadEventError(f"{type(exc).__name__}: {exc}") from None
    if check:
        problems = validate(event)
        if problems:
            raise BadEventError("ValidationError: " + "; ".join(map(str, problems)))
    return event


def dead_letter(  # noqa: PLR0917 - the record, where it was, and why
    value: bytes | None,
    key: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    place: Place,
    stage: str,
    reason: str,
) -> DeadLetter:
    """The dead letter for a record, whole: its bytes, key and headers, where it was read."""
    topic, partition, offset = place
    error_class, _, error_message = reason.partition(": ")
    return DeadLetter(
        dead_letter_id=uuid.uuid5(_DEAD_LETTER_NAMESPACE, f"{topic}:{partition}:{offset}"),
        original_value=value or b"",
        original_key=key,
        original_headers=tuple(
            Header(key=str(k), value=v if isinstance(v, bytes) else None) for k, v in headers
        ),
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        stage=stage,
        error_class=error_class or "Error",
        error_message=error_message or reason,
        failed_at=utc_now(),
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
    envelope = event.envelope
    return f"{envelope.source_system.value}:{envelope.source_record_id}".encode()
