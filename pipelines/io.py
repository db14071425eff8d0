"""What every stage shares: decoding with dead letters, outcomes, sending and waiting.

For each event a stage decides, sends what the decision produces, and only once Kafka
confirmed it updates its table and acknowledges the input (many events are in flight at
once: see :mod:`pipelines.window`). A crash anywhere before the acknowledgement makes the
event come again (at-least-once); a send that fails is an infrastructure fault and stops
the worker, loudly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, cast

import faust
from faust.types import EventT, StreamT, TopicT

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT, PIPELINE_OUTCOME
from liaison.errors import BadEventError
from liaison.kafka.topics import DEAD_LETTERS, PIPELINE_OUTCOMES
from liaison.model import to_avro
from liaison.model.common import Event
from liaison.settings import Settings
from pipelines import records
from pipelines.records import read_event

__all__ = ["StageIO", "manual"]


class StageIO:
    """Codecs and the topics every stage writes to besides its own output."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.events = AvroCodec(EVENT)
        self._dead_letters = AvroCodec(DEAD_LETTER_SCHEMA)
        self._outcomes = AvroCodec(PIPELINE_OUTCOME)
        prefix = settings.topic_prefix
        self.dead_letter_topic: TopicT = app.topic(DEAD_LETTERS.full_name(prefix))
        self.outcome_topic: TopicT = app.topic(PIPELINE_OUTCOMES.full_name(prefix))

    def topic(self, name: str) -> TopicT:
        return self.app.topic(self.settings.topic_prefix + name)

    def read(self, message: Any, *, check: bool = True) -> Event:
        """The event in a message; BadEventError with the reason when it cannot be used."""
        return read_event(self.events, message.value, check=check)

    def encode(self, event: Event) -> bytes:
        return self.events.encode(to_avro(event))

    async def send(
        self, topic: TopicT, key: bytes, value: bytes, headers: Any = None
    ) -> Awaitable[Any]:
        """Queue one record; the returned future resolves when Kafka has it. ``headers``
        (the input's, usually) travel along, for tracing an event across the stages."""
        return await topic.send(key=key, value=value, headers=headers)

    async def dead_letter(
        self, event: EventT[bytes], stage: str, error: BadEventError
    ) -> Awaitable[Any]:
        """Send the input to the dead-letter topic, whole; the send, to wait for."""
        message = event.message
        raw = message.headers
        pairs = list(raw.items()) if isinstance(raw, Mapping) else list(raw or ())
        place = (message.topic, message.partition, message.offset)
        letter = records.dead_letter(message.value, message.key, pairs, place, stage, error)
        value = self._dead_letters.encode(to_avro(letter))
        return await self.send(self.dead_letter_topic, message.key or b"", value)

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
        origin = (source.topic, source.partition, source.offset) if source is not None else None
        record = records.outcome(event, stage, outcome, reason, related, origin)
        value = self._outcomes.encode(to_avro(record))
        return await self.send(self.outcome_topic, records.outcome_key(event), value)


def manual(stream: StreamT[bytes]) -> faust.Stream[bytes]:
    """The stream with automatic acknowledgement off (see the module docstring)."""
    return cast("faust.Stream[bytes]", stream).noack()  # type: ignore[return-value]
