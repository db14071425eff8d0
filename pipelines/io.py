"""What every stage shares: decoding with dead letters, outcomes, sending and waiting.

For each event a stage decides, sends what the decision produces, and only once Kafka
confirmed it updates its table and acknowledges the input (many events are in flight at
once: see :mod:`pipelines.window`). A crash anywhere before the acknowledgement makes the
event come again (at-least-once); a send that fails is an infrastructure fault and stops
the worker, loudly.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, cast

import faust
from faust.types import EventT, StreamT, TopicT

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER, EVENT, PIPELINE_OUTCOME
from liaison.errors import MappingError, SerdeError
from liaison.kafka.topics import DEAD_LETTER as DEAD_LETTER_TOPIC
from liaison.kafka.topics import PIPELINE_OUTCOMES
from liaison.model import from_avro, to_avro
from liaison.model.common import Event
from liaison.model.exchange import DeadLetter, Header, PipelineOutcome
from liaison.settings import Settings
from liaison.timestamps import utc_now
from liaison.validation import validate

__all__ = ["BadEventError", "StageIO"]

# Dead-letter ids are derived from where the record was, so a replayed failure
# keeps its id.
_DEAD_LETTER_NAMESPACE = uuid.UUID("0d3c1f8e-2b47-5a6c-8d9e-7f1a2b3c4d5e")


class BadEventError(Exception):
    """An input that is not a valid event: it goes to the dead-letter topic."""


class StageIO:
    """Codecs and the topics every stage writes to besides its own output."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.events = AvroCodec(EVENT)
        self._dead_letters = AvroCodec(DEAD_LETTER)
        self._outcomes = AvroCodec(PIPELINE_OUTCOME)
        prefix = settings.topic_prefix
        self.dead_letter_topic: TopicT = app.topic(DEAD_LETTER_TOPIC.full_name(prefix))
        self.outcome_topic: TopicT = app.topic(PIPELINE_OUTCOMES.full_name(prefix))

    def topic(self, name: str) -> TopicT:
        return self.app.topic(self.settings.topic_prefix + name)

    def read(self, message: Any, *, check: bool = True) -> Event:
        """The event in a message; BadEventError with the reason when it cannot be used."""
        try:
            event = from_avro(Event, self.events.decode(message.value))
        except (SerdeError, MappingError, ValueError, TypeError, KeyError) as exc:
            raise BadEventError(f"{type(exc).__name__}: {exc}") from None
        if check:
            problems = validate(event)
            if problems:
                raise BadEventError("ValidationError: " + "; ".join(map(str, problems)))
        return event

    def encode(self, event: Event) -> bytes:
        return self.events.encode(to_avro(event))

    async def send(
        self, topic: TopicT, key: bytes, value: bytes, headers: Any = None
    ) -> Awaitable[Any]:
        """Queue one record; the returned future resolves when Kafka has it. ``headers``
        (the input's, usually) travel along, for tracing an event across the stages."""
        return await topic.send(key=key, value=value, headers=headers)

    async def dead_letter(self, event: EventT[bytes], stage: str, reason: str) -> None:
        """Send the input to the dead-letter topic, whole, and wait for Kafka to have it."""
        message = event.message
        raw = message.headers
        pairs = list(raw.items()) if isinstance(raw, Mapping) else list(raw or ())
        error_class, _, error_message = reason.partition(": ")
        letter = DeadLetter(
            dead_letter_id=uuid.uuid5(
                _DEAD_LETTER_NAMESPACE, f"{message.topic}:{message.partition}:{message.offset}"
            ),
            original_value=message.value or b"",
            original_key=message.key,
            original_headers=tuple(
                Header(key=str(k), value=v if isinstance(v, bytes) else None) for k, v in pairs
            ),
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            stage=stage,
            error_class=error_class or "Error",
            error_message=error_message or reason,
            failed_at=utc_now(),
        )
        value = self._dead_letters.encode(to_avro(letter))
        await (await self.send(self.dead_letter_topic, message.key or b"", value))

    async def outcome(
        self,
        event: Event,
        stage: str,
        outcome: str,
        reason: str,
        *,
        related: str | None = None,
        source: Any = None,
    ) -> Awaitable[Any]:
        """Record that ``event`` went no further, and why. ``source`` is the input message
        when the event has no lineage yet (the first stage)."""
        envelope = event.envelope
        lineage = envelope.lineage
        origin = (
            (source.topic, source.partition, source.offset)
            if source is not None
            else (lineage.source_topic, lineage.source_partition, lineage.source_offset)
        )
        record = PipelineOutcome(
            event_id=envelope.event_id,
            source_system=envelope.source_system,
            source_record_id=envelope.source_record_id,
            version=envelope.version,
            stage=stage,
            outcome=outcome,
            reason=reason,
            related_event_id=uuid.UUID(related) if related else None,
            source_topic=origin[0],
            source_partition=origin[1],
            source_offset=origin[2],
            decided_at=utc_now(),
        )
        key = f"{envelope.source_system.value}:{envelope.source_record_id}".encode()
        return await self.send(self.outcome_topic, key, self._outcomes.encode(to_avro(record)))


def manual(stream: StreamT[bytes]) -> faust.Stream[bytes]:
    """The stream with automatic acknowledgement off (see the module docstring)."""
    return cast("faust.Stream[bytes]", stream).noack()  # type: ignore[return-value]
