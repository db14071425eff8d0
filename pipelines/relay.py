"""The relay stage: moves every ingest event, unchanged, to ``events.accepted``.

It is the pipeline's skeleton until the dedupe, enrich and route stages take
its place, and it already keeps the delivery rule those stages need. Faust
acknowledges an event when the agent's loop moves on, and also when the loop
is torn down by an exception; then the worker's shutdown commit would pass a
record whose output never reached Kafka. So the stream runs with acks off, and
each event is acknowledged only once Kafka confirmed the record made from it.
A failed send crashes the worker, and a restart reads the event again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import cast

import faust
from faust.types import AgentT, EventT, RecordMetadata, StreamT, TopicT

from liaison.kafka.topics import EVENTS_ACCEPTED, INGEST_TOPICS
from liaison.settings import Settings

__all__ = ["register"]


def register(app: faust.App, settings: Settings) -> AgentT[bytes]:
    """Add the relay agent to ``app``."""
    sources = app.topic(*(spec.full_name(settings.topic_prefix) for spec in INGEST_TOPICS))
    sink = app.topic(EVENTS_ACCEPTED.full_name(settings.topic_prefix))

    async def relay(stream: StreamT[bytes]) -> None:
        manual = cast("faust.Stream[bytes]", stream).noack()
        in_flight: set[asyncio.Task[None]] = set()
        async for event in manual.events():
            delivery = await _forward(event, sink)
            task = asyncio.ensure_future(_ack_when_delivered(app, manual, event, delivery))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    return app.agent(sources, name="relay")(relay)


async def _forward(event: EventT[bytes], sink: TopicT) -> Awaitable[RecordMetadata]:
    message = event.message
    return await sink.send(key=message.key, value=message.value, headers=message.headers)


async def _ack_when_delivered(
    app: faust.App,
    stream: StreamT[bytes],
    event: EventT[bytes],
    delivery: Awaitable[RecordMetadata],
) -> None:
    try:
        await delivery
    except Exception as exc:  # noqa: BLE001 - any failed send is an infrastructure fault
        await app.crash(exc)
        return
    await stream.ack(event)
