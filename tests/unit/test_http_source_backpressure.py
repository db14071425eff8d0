"""An HTTP source whose producer cannot take a record answers 503 at once, without holding
up its event loop, which goes on serving.

The producer points at a loopback port nothing listens on, with room for one record, taken
by a record that will never be confirmed: the body sent finds the queue full."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from connectors.http_source import HttpSource, RateLimit
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


def _source(producer: KafkaProducer, **options: Any) -> HttpSource:
    """The police source of NL-POLICE's token, sending to topics of no broker."""
    return HttpSource(
        name="police-source",
        path="alerts",
        body_format=police.FORMAT,
        tokens={"NL-POLICE": [TOKEN]},
        producer=producer,
        ingest_topic="t.ingest.police",
        dead_letter_topic="t.deadletter",
        **options,
    )


async def _scenario() -> None:
    settings = load_settings({}, bootstrap_servers="127.0.0.1:1")
    producer = KafkaProducer(
        {**producer_config(settings), "queue.buffering.max.messages": 1, "linger.ms": 0}
    )
    source = _source(producer, confirm_timeout_s=3.0)
    (body,) = _bodies(1)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    # The queue's one place taken by a record that Kafka will never confirm.
    producer.produce("t.ingest.police", b"waiting", key=b"k")
    async with TestClient(TestServer(source.app())) as client:
        answer = await client.post("/v1/alerts", data=body, headers=headers)
        assert answer.status == 503  # no room: send again, at once (not 30 s later, not 500)
        assert "send again" in (await answer.json())["error"]
        health = await client.get("/healthz")  # the loop went on serving
        assert health.status == 200


def test_a_full_producer_queue_is_a_503_at_once_and_blocks_nothing_else():
    asyncio.run(_scenario())


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(0.5, 50), st.integers(1, 8), st.integers(0, 12))
def test_the_rate_limit_admits_the_burst_then_the_rate_per_sender(rate, burst, extra):
    clock = _Clock()
    limit = RateLimit(rate, burst, clock)
    admitted = [limit.wait("NL-POLICE") == 0 for _ in range(burst + extra)]
    assert admitted == [True] * burst + [False] * extra
    assert limit.wait("BE-POLICE") == 0  # every sender has its own bucket
    wait_s = limit.wait("NL-POLICE")
    assert wait_s > 0
    clock.now += wait_s  # as long as it was told to wait: then one more
    assert limit.wait("NL-POLICE") == 0
    assert limit.wait("NL-POLICE") > 0


async def _limited() -> None:
    settings = load_settings({}, bootstrap_servers="127.0.0.1:1")
    producer = KafkaProducer(producer_config(settings))
    clock = _Clock()
    source = _source(
        producer, confirm_timeout_s=0.2, rate=RateLimit(rate=0.5, burst=2, clock=clock)
    )
    (body,) = _bodies(1)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with TestClient(TestServer(source.app())) as client:
        statuses = []
        for _ in range(3):
            answer = await client.post("/v1/alerts", data=body, headers=headers)
            statuses.append(answer.status)
        assert statuses[:2] != [429, 429]  # taken (503 here: nothing confirms)
        assert statuses[2] == 429
        assert answer.headers["Retry-After"] == "2"  # one request per two seconds
        clock.now += 2
        again = await client.post("/v1/alerts", data=body, headers=headers)
        assert again.status != 429


def test_a_sender_over_its_rate_is_answered_429_with_retry_after():
    asyncio.run(_limited())
