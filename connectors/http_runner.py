"""Run the CIS+ or police HTTP source as a process (``liaison connector run cisplus-source``)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from connectors.cisplus import format as cisplus
from connectors.http_source import HttpSource, poll_forever
from connectors.police import format as police
from liaison.errors import ConfigurationError
from liaison.health import Health
from liaison.kafka.client import KafkaProducer, producer_config
from liaison.kafka.topics import DEAD_LETTER, INGEST_CISPLUS, INGEST_POLICE
from liaison.metrics import ConnectorMetrics
from liaison.settings import Settings, env_name

__all__ = ["ENDPOINTS", "parse_tokens", "run_http_source"]

# endpoint -> (path, body format, ingest topic)
ENDPOINTS = {
    "cisplus": ("records", cisplus.FORMAT, INGEST_CISPLUS),
    "police": ("alerts", police.FORMAT, INGEST_POLICE),
}


def parse_tokens(text: str) -> dict[str, dict[str, str]]:
    """``endpoint:sender=token,...`` as {endpoint: {sender: token}}; errors name no token."""
    tokens: dict[str, dict[str, str]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        target, sep, token = item.partition("=")
        endpoint, colon, sender = target.partition(":")
        if not sep or not colon or not token or not sender or endpoint not in ENDPOINTS:
            raise ConfigurationError(
                f"{env_name('http_tokens')}: each entry is <endpoint>:<sender>=<token>, "
                f"endpoint one of {', '.join(ENDPOINTS)} (entry for {target.strip()!r} is not)"
            )
        tokens.setdefault(endpoint, {})[sender] = token
    return tokens


def run_http_source(
    settings: Settings,
    endpoint: str,
    stop: threading.Event,
    metrics: ConnectorMetrics | None = None,
    health: Health | None = None,
) -> None:
    path, body_format, ingest = ENDPOINTS[endpoint]
    secret = settings.http_tokens.get_secret_value() if settings.http_tokens else ""
    tokens = parse_tokens(secret)
    if not tokens.get(endpoint):
        raise ConfigurationError(f"no sender may use {endpoint}: set {env_name('http_tokens')}")
    foreign = [t for name, senders in tokens.items() if name != endpoint for t in senders.values()]
    port = settings.cisplus_port if endpoint == "cisplus" else settings.police_port
    prefix = settings.topic_prefix
    with KafkaProducer(producer_config(settings)) as producer:
        source = HttpSource(
            name=f"{endpoint}-source",
            path=path,
            body_format=body_format,
            tokens=tokens[endpoint],
            foreign_tokens=foreign,
            producer=producer,
            ingest_topic=ingest.full_name(prefix),
            dead_letter_topic=DEAD_LETTER.full_name(prefix),
            bulk=endpoint == "police",  # the watchlist import: a file of alerts
            metrics=metrics,
        )
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
