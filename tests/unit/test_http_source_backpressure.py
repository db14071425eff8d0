"""An HTTP source whose producer cannot take a record answers 503 at once, without holding
up its event loop; the other requests it serves meanwhile are answered.

The producer points at a loopback port nothing listens on, with room for one record: the
first record waits for a confirmation that never comes, the second finds the queue full."""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from connectors.http_source import HttpSource
from connectors.police import format as police
from liaison.kafka.client import KafkaProducer, producer_config
from liaison.settings import load_settings
from stack.synthetic.generator import Label, TrafficGenerator

TOKEN = "a-token-for-this-test-only-0123456789"


def _bodies(count: int) -> list[bytes]:
    alerts = [
        r.event
        for r in TrafficGenerator(seed=77).take(2000)
        if r.event is not None and r.label is Label.ALERT
    ]
    return [json.dumps(police.body_of(a)).encode() for a in alerts[:count]]


async def _scenario() -> None:
    settings = load_settings({}, bootstrap_servers="127.0.0.1:1")
    producer = KafkaProducer(
        {**producer_config(settings), "queue.buffering.max.messages": 1, "linger.ms": 0}
    )
    source = HttpSource(
        name="police-source",
        path="alerts",
        body_format=police.FORMAT,
        tokens={"NL-POLICE": [TOKEN]},
        producer=producer,
        ingest_topic="t.ingest.police",
        dead_letter_topic="t.deadletter",
        confirm_timeout_s=3.0,
    )
    first, second = _bodies(2)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    answered: list[str] = []
    async with TestClient(TestServer(source.app())) as client:

        async def post(name: str, body: bytes) -> int:
            response = await client.post("/v1/alerts", data=body, headers=headers)
            answered.append(name)
            return response.status

        waiting = asyncio.ensure_future(post("first", first))
        await asyncio.sleep(0.3)  # the first record is in the queue, unconfirmed
        assert await post("second", second) == 503  # no room: send again, at once
        health = await client.get("/healthz")
        answered.append("health")
        assert health.status == 200
        assert await waiting == 503  # never confirmed
    assert answered == ["second", "health", "first"]


def test_a_full_producer_queue_is_a_503_at_once_and_blocks_nothing_else():
    asyncio.run(_scenario())
