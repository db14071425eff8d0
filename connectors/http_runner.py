"""Run the CIS+ or police HTTP source as a process (``liaison connector run cisplus-source``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pkgutil import resolve_name

from aiohttp import web

from connectors.catalogue import HTTP_SOURCES, Running
from connectors.http_source import HttpSource, RateLimit, poll_forever
from connectors.jsonbody import JsonBodyFormat
from liaison.errors import ConfigurationError
from liaison.health import Health
from liaison.kafka.client import KafkaProducer, producer_config
from liaison.kafka.topics import DEAD_LETTERS
from liaison.metrics import ConnectorMetrics
from liaison.policy import Sender
from liaison.settings import Settings, env_name

__all__ = ["run", "run_http_source", "sender_tokens"]


def run(running: Running) -> None:
    """``liaison connector run cisplus-source|police-source``."""
    settings = running.settings
    endpoint = running.kind.removesuffix("-source")
    port = getattr(settings, HTTP_SOURCES[endpoint].port_setting)
    running.say(f"{running.kind}: listening on http://{settings.http_host}:{port}")
    owners = {sender.id: sender for sender in running.policy.senders}
    run_http_source(
        settings, endpoint, running.stop, running.metrics, running.health, owners=owners
    )


def sender_tokens(settings: Settings, endpoint: str) -> tuple[dict[str, list[str]], list[str]]:
    """The senders that may use ``endpoint`` with their tokens, and the tokens of the other
    sources (a sender that uses one at the wrong door is refused, not unknown)."""
    tokens = settings.http_tokens or {}
    strange = sorted(set(tokens) - set(HTTP_SOURCES))
    if strange:
        raise ConfigurationError(
            f"{env_name('http_tokens')}: no HTTP source is called {', '.join(strange)}; "
            f"they are {', '.join(HTTP_SOURCES)}"
        )
    if not tokens.get(endpoint):
        raise ConfigurationError(f"no sender may use {endpoint}: set {env_name('http_tokens')}")
    own = {
        sender: [token.get_secret_value() for token in held]
        for sender, held in tokens[endpoint].items()
    }
    foreign = [
        token.get_secret_value()
        for name, senders in tokens.items()
        if name != endpoint
        for held in senders.values()
        for token in held
    ]
    return own, foreign


def run_http_source(
    settings: Settings,
    endpoint: str,
    stop: threading.Event,
    metrics: ConnectorMetrics | None = None,
    health: Health | None = None,
    *,
    owners: Mapping[str, Sender] | None = None,
) -> None:
    spec = HTTP_SOURCES[endpoint]
    own, foreign = sender_tokens(settings, endpoint)
    body_format: JsonBodyFormat = resolve_name(spec.body_format)
    prefix = settings.topic_prefix
    with KafkaProducer(producer_config(settings)) as producer:
        source = HttpSource(
            name=f"{endpoint}-source",
            path=spec.path,
            body_format=body_format,
            tokens=own,
            foreign_tokens=foreign,
            owners=owners,
            producer=producer,
            ingest_topic=spec.topic.full_name(prefix),
            dead_letter_topic=DEAD_LETTERS.full_name(prefix),
            bulk=spec.bulk,
            metrics=metrics,
            rate=RateLimit(settings.http_sender_rate, settings.http_sender_burst),
        )
        port = getattr(settings, spec.port_setting)
        asyncio.run(_serve(source, settings.http_host, port, producer, stop, health))


async def _serve(  # noqa: PLR0917 - one server's parts
    source: HttpSource,
    host: str,
    port: int,
    producer: KafkaProducer,
    stop: threading.Event,
    health: Health | None = None,
) -> None:
    runner = web.AppRunner(source.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    polling = asyncio.Event()
    # Ready from here on: listening, with the producer's callbacks served.
    poller = asyncio.create_task(poll_forever(producer, polling, health))
    try:
        await asyncio.to_thread(stop.wait)
    finally:
        await runner.cleanup()  # stops taking requests; answers in flight finish first
        polling.set()
        await poller
