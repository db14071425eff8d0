"""The HTTP sources (CIS+ records, police alerts): one JSON body per record, answered only
once Kafka has it.

- ``POST /v1/<path>`` with ``Authorization: Bearer <token>``; each sending system has its own
  token (settings, never logged); a token of another source's endpoint gets 403.
- 202 with ``{"event_id": ...}`` once Kafka confirmed the event; resending the same record and
  version answers 202 with the same event id (ids derive from source, record id and version)
  and the pipeline drops the copy as a replay.
- 400 with ``{"errors": [{"field": ..., "reason": ...}]}`` for a body that is not JSON, does
  not map, or fails validation; the body also goes to the dead-letter topic with the reason.
- 401 without a valid token, 413 for a body over 1 MiB, 503 if Kafka did not confirm in time.

With ``bulk=True`` (the police watchlist import) ``POST /v1/<path>/bulk`` also takes a file
of such bodies, one JSON object per line (``application/x-ndjson``, up to 32 MiB). Each line
is taken or rejected on its own; the answer, once Kafka confirmed every event and dead
letter, is 200 with ``{"accepted": n, "rejected": [{"line": n, "errors": [...]}]}``, or 503
(send the file again: accepted lines are recognised as replays). Blank lines are skipped.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from aiohttp import web
from confluent_kafka import KafkaError, Message
from prometheus_client import CollectorRegistry

from connectors.jsonbody import JsonBodyFormat
from liaison.avro.codec import MAX_MESSAGE_BYTES, AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.deadletters import dead_letter
from liaison.errors import MappingError
from liaison.health import Health
from liaison.identity import record_key
from liaison.kafka.client import KafkaProducer
from liaison.metrics import ConnectorMetrics
from liaison.model import to_avro
from liaison.model.common import Event
from liaison.timestamps import utc_now
from liaison.validation import validate

__all__ = ["HttpSource"]

log = logging.getLogger(__name__)
MAX_BULK_BYTES = 32 * 1024 * 1024
_NOT_CONFIRMED = {"error": "not confirmed by Kafka; send again"}


class HttpSource:
    """One HTTP ingest endpoint for one source system's JSON bodies."""

    def __init__(
        self,
        *,
        name: str,
        path: str,
        body_format: JsonBodyFormat,
        tokens: Mapping[str, str],
        foreign_tokens: Iterable[str] = (),
        producer: KafkaProducer,
        ingest_topic: str,
        dead_letter_topic: str,
        confirm_timeout_s: float = 30.0,
        bulk: bool = False,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        self.metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        self.name, self.path, self.format = name, path, body_format
        self._tokens = dict(tokens)  # sender -> token
        self._foreign = [t.encode() for t in foreign_tokens]  # other endpoints' senders
        self.producer = producer
        self.ingest_topic, self.dead_letter_topic = ingest_topic, dead_letter_topic
        self.confirm_timeout_s = confirm_timeout_s
        self.bulk = bulk
        self.events, self.letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BULK_BYTES if self.bulk else MAX_MESSAGE_BYTES,
            middlewares=[self._counted, _json_errors],
        )
        app.router.add_post(f"/v1/{self.path}", self.receive)
        if self.bulk:
            app.router.add_post(f"/v1/{self.path}/bulk", self.receive_bulk)
        app.router.add_get("/healthz", self.health)
        return app

    @web.middleware
    async def _counted(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Count every answer by status (health checks aside)."""
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if request.path != "/healthz":
                self.metrics.http_requests.labels(self.name, str(status)).inc()

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def _sender(self, request: web.Request) -> str:
        """The sending system the token belongs to; raises 401, or 403 for a token of
        another endpoint's sender."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            for sender, expected in self._tokens.items():
                if hmac.compare_digest(token.encode(), expected.encode()):
                    return sender
            if any(hmac.compare_digest(token.encode(), other) for other in self._foreign):
                raise web.HTTPForbidden(
                    text=json.dumps({"error": "this token may not send to this endpoint"}),
                    content_type="application/json",
                )
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "a valid bearer token is required"}),
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def receive(self, request: web.Request) -> web.Response:
        sender = self._sender(request)
        raw = await self._body(request, MAX_MESSAGE_BYTES)
        parsed = self._parse(raw)
        if isinstance(parsed, list):
            if not await self._confirmed([self._dead_letter(raw, parsed)]):
                return web.json_response(_NOT_CONFIRMED, status=503)
            self._count(0, 1)
            return web.json_response({"errors": _errors(parsed)}, status=400)
        if not await self._confirmed([self._event(parsed)]):
            return web.json_response(_NOT_CONFIRMED, status=503)
        self._count(1, 0)
        log.info("%s: accepted a record from %s", self.name, sender)
        return web.json_response({"event_id": str(parsed.envelope.event_id)}, status=202)

    async def receive_bulk(self, request: web.Request) -> web.Response:
        sender = self._sender(request)
        raw = await self._body(request, MAX_BULK_BYTES)
        sends: list[asyncio.Future[KafkaError | None]] = []
        accepted, rejected = 0, []
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            parsed = self._parse(line)
            if isinstance(parsed, list):
                sends.append(self._dead_letter(line, parsed, line=number))
                rejected.append({"line": number, "errors": _errors(parsed)})
            else:
                sends.append(self._event(parsed))
                accepted += 1
            if number % 500 == 0:
                await asyncio.sleep(0)  # let other requests in during a long file
        if not await self._confirmed(sends):
            return web.json_response(_NOT_CONFIRMED, status=503)
        self._count(accepted, len(rejected))
        log.info(
            "%s: bulk import from %s: %d accepted, %d rejected",
            self.name,
            sender,
            accepted,
            len(rejected),
        )
        return web.json_response({"accepted": accepted, "rejected": rejected}, status=200)

    def _count(self, accepted: int, rejected: int) -> None:
        """Records on Kafka: events accepted, and dead letters of rejected ones."""
        records = self.metrics.records
        records.labels(self.name, "accepted").inc(accepted)
        records.labels(self.name, "rejected").inc(rejected)
        self.metrics.dead_letters.labels(self.name, "MappingError").inc(rejected)

    @staticmethod
    async def _body(request: web.Request, limit: int) -> bytes:
        too_large = web.HTTPRequestEntityTooLarge(
            max_size=limit,
            actual_size=request.content_length or 0,
            text=json.dumps({"error": f"body over {limit // (1024 * 1024)} MiB"}),
            content_type="application/json",
        )
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        if len(raw) > limit:  # sent without a length, and under the application's bound
            raise too_large
        return raw

    def _parse(self, raw: bytes) -> Event | list[tuple[str, str]]:
        """The event in the body, or the field-level reasons it cannot be one."""
        try:
            event = self.format.event_of(json.loads(raw), ingest_time=utc_now())
        except json.JSONDecodeError:
            return [("body", "is not valid JSON")]
        except MappingError as exc:
            return [(exc.field, exc.reason)]
        problems = validate(event)
        return [(self._body_field(p.field), p.reason) for p in problems] if problems else event

    def _body_field(self, path: str) -> str:
        """An event path as the sender knows it: the field of its own JSON body."""
        if path.startswith("payload"):
            return self.format.payload_key + path.removeprefix("payload")
        field = path.removeprefix("envelope.")
        return "record_id" if field == "source_record_id" else field

    def _event(self, event: Event) -> asyncio.Future[KafkaError | None]:
        key = record_key(event).encode()
        return self._produce(self.ingest_topic, key, self.events.encode(to_avro(event)))

    def _dead_letter(
        self, raw: bytes, errors: list[tuple[str, str]], line: int | None = None
    ) -> asyncio.Future[KafkaError | None]:
        letter = dead_letter(
            value=raw,
            stage=self.name,
            kind="MappingError",
            reason="; ".join(f"{field}: {why}" for field, why in errors),
            source=f"{self.name}:{self.path}" + ("/bulk" if line is not None else ""),
            offset=line,
        )
        return self._produce(
            self.dead_letter_topic, self.name.encode(), self.letters.encode(to_avro(letter))
        )

    def _produce(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[KafkaError | None]:
        """Queue one record; the future settles with Kafka's answer."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[KafkaError | None] = loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            loop.call_soon_threadsafe(_settle(done), error)

        self.producer.produce(topic, value, key=key, on_delivery=delivered)
        return done

    async def _confirmed(self, sends: list[asyncio.Future[KafkaError | None]]) -> bool:
        """Whether Kafka confirmed every one of these within the timeout."""
        try:
            errors = await asyncio.wait_for(asyncio.gather(*sends), self.confirm_timeout_s)
        except TimeoutError:
            return False
        refused = [error for error in errors if error is not None]
        for error in refused[:1]:
            log.error("%s: Kafka refused %d record(s): %s", self.name, len(refused), error.str())
        return not refused


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown paths and methods answer in JSON like everything else."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)


def _errors(errors: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": field, "reason": why} for field, why in errors]


def _settle(future: asyncio.Future[KafkaError | None]) -> Callable[[KafkaError | None], None]:
    def settle(error: KafkaError | None) -> None:
        if not future.done():
            future.set_result(error)

    return settle


async def poll_forever(
    producer: KafkaProducer, stop: asyncio.Event, health: Health | None = None
) -> None:
    """Serve the producer's delivery callbacks from a thread while the server runs (and
    tell ``health`` that the server's event loop goes round)."""
    while not stop.is_set():
        if health is not None:
            health.beat()
        await asyncio.to_thread(producer.poll, 0.1)
