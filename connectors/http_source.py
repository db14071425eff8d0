"""The HTTP sources (CIS+ records, police alerts): one JSON body per record, answered only
once Kafka has it.

- ``POST /v1/<path>`` with ``Authorization: Bearer <token>``; each sending system has its own
  tokens (settings, never logged; two while one replaces the other); a token of another
  source's endpoint gets 403.
- 202 with ``{"event_id": ...}`` once Kafka confirmed the event; resending the same record and
  version answers 202 with the same event id (ids derive from source, record id and version)
  and the pipeline drops the copy as a replay.
- 400 with ``{"errors": [{"field": ..., "reason": ...}]}`` for a body that is not JSON, does
  not map, or fails validation; the body also goes to the dead-letter topic with the reason.
- 401 without a valid token, 413 for a body over 1 MiB (its first 512 KiB go to the
  dead-letter topic with the reason; the rest is not read), 503 if Kafka could not take the
  record at once or did not confirm it in time, 429 with ``Retry-After`` for a sender over its
  request rate (``LIAISON_HTTP_SENDER_RATE``, ``LIAISON_HTTP_SENDER_BURST``).
- 403 for a record the sender may not report as its own (the routing policy's ``[[senders]]``
  bind a sender to source systems and reporting countries); it goes to the dead-letter topic
  as ``OwnerMismatch``. An accepted record carries its sender in ``envelope.submitted_by``.

With ``bulk=True`` (the police watchlist import) ``POST /v1/<path>/bulk`` also takes a file
of such bodies, one JSON object per line (``application/x-ndjson``, up to 32 MiB). Each line
is taken or rejected on its own; the answer, once Kafka confirmed every event and dead
letter, is 200 with ``{"accepted": n, "rejected": [{"line": n, "errors": [...]}]}``, or 503
(send the file again: accepted lines are recognised as replays). Blank lines are skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import NoReturn

from aiohttp import StreamReader, web
from prometheus_client import CollectorRegistry

from connectors.contract import SourceRecord, SourceRunner, SourceTask
from connectors.jsonbody import JsonBodyFormat, parse_body
from liaison.avro.codec import MAX_MESSAGE_BYTES
from liaison.errors import MappingError
from liaison.health import Health
from liaison.kafka.client import KafkaProducer
from liaison.metrics import ConnectorMetrics
from liaison.policy import Sender
from liaison.timestamps import utc_now

__all__ = ["MAX_BULK_BYTES", "HttpSource"]

log = logging.getLogger(__name__)
MAX_BULK_BYTES = 32 * 1024 * 1024
_NOT_CONFIRMED = {"error": "not confirmed by Kafka; send again"}
OWNER_MISMATCH = "OwnerMismatch"  # a record claiming another owner than its sender
# What a dead letter keeps of a body refused as too large (its beginning).
_KEPT_BYTES = 512 * 1024


class HttpSource:
    """One HTTP ingest endpoint for one source system's JSON bodies."""

    def __init__(
        self,
        *,
        name: str,
        path: str,
        body_format: JsonBodyFormat,
        tokens: Mapping[str, Sequence[str]],
        foreign_tokens: Iterable[str] = (),
        owners: Mapping[str, Sender] | None = None,
        producer: KafkaProducer,
        ingest_topic: str,
        dead_letter_topic: str,
        confirm_timeout_s: float = 30.0,
        bulk: bool = False,
        metrics: ConnectorMetrics | None = None,
        rate: RateLimit | None = None,
    ) -> None:
        self.metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        self.rate = rate or RateLimit()
        self.name, self.path, self.format = name, path, body_format
        # sender -> its tokens (more than one while it rotates)
        self._tokens = {sender: [t.encode() for t in held] for sender, held in tokens.items()}
        self._foreign = [t.encode() for t in foreign_tokens]  # other endpoints' senders
        self._owners = dict(owners or {})  # sender -> what it may report
        self.producer = producer
        self.ingest_topic, self.dead_letter_topic = ingest_topic, dead_letter_topic
        self.bulk = bulk
        self.task = _Pushed(name, body_format)
        self.runner = SourceRunner(
            self.task,
            ingest_topic=ingest_topic,
            dead_letter_topic=dead_letter_topic,
            producer=producer,
            metrics=self.metrics,
            confirm_timeout_s=confirm_timeout_s,
        )

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
            given = token.encode()
            for sender, held in self._tokens.items():
                if any(hmac.compare_digest(given, expected) for expected in held):
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

    def _admitted(self, request: web.Request) -> str:
        """The sender, if it has not sent more than its rate allows; else 429."""
        sender = self._sender(request)
        wait_s = self.rate.wait(sender)
        if wait_s > 0:
            raise web.HTTPTooManyRequests(
                text=json.dumps({"error": "too many requests from this sender; send again"}),
                content_type="application/json",
                headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
        return sender

    async def receive(self, request: web.Request) -> web.Response:
        sender = self._admitted(request)
        raw = await self._body(request, MAX_MESSAGE_BYTES, self.path)
        decisions = await self.runner.send_confirmed([self._record(raw, self.path, sender)])
        if decisions is None:
            return web.json_response(_NOT_CONFIRMED, status=503)
        (decision,) = decisions
        if decision.event is None:
            status = 403 if decision.kind == OWNER_MISMATCH else 400
            return web.json_response({"errors": _errors(decision.errors)}, status=status)
        log.info("%s: accepted a record from %s", self.name, sender)
        return web.json_response({"event_id": str(decision.event.envelope.event_id)}, status=202)

    async def receive_bulk(self, request: web.Request) -> web.Response:
        sender = self._admitted(request)
        raw = await self._body(request, MAX_BULK_BYTES, f"{self.path}/bulk")
        records = []
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if line.strip():
                records.append(self._record(line, f"{self.path}/bulk", sender, number))
            if number % 500 == 0:
                await asyncio.sleep(0)  # let other requests in during a long file
        decisions = await self.runner.send_confirmed(records)
        if decisions is None:
            return web.json_response(_NOT_CONFIRMED, status=503)
        accepted = sum(1 for d in decisions if d.accepted)
        rejected = [
            {"line": d.record.line, "errors": _errors(d.errors)}
            for d in decisions
            if not d.accepted
        ]
        log.info(
            "%s: bulk import from %s: %d accepted, %d rejected",
            self.name,
            sender,
            accepted,
            len(rejected),
        )
        return web.json_response({"accepted": accepted, "rejected": rejected}, status=200)

    async def _body(self, request: web.Request, limit: int, path: str) -> bytes:
        """The body, read from the stream up to ``limit`` bytes; a larger one (declared or
        sent) is refused with 413 once its dead letter, the body's beginning with the
        reason, is in Kafka (503 if Kafka cannot take that either). The rest of it is
        never read."""
        declared = request.content_length
        if declared is not None and declared > limit:
            beginning = await _read_up_to(request.content, _KEPT_BYTES)
            await self._too_large(beginning, path, limit)
        raw = await _read_up_to(request.content, limit + 1)
        if len(raw) > limit:  # sent without a length, or a longer one than declared
            await self._too_large(raw[:_KEPT_BYTES], path, limit)
        return raw

    async def _too_large(self, beginning: bytes, path: str, limit: int) -> NoReturn:
        reason = f"is over {limit // (1024 * 1024)} MiB"
        record = SourceRecord(
            beginning,
            f"{self.name}:{path}",
            error=MappingError("body", reason),
            note=f" (cut to its first {len(beginning)} bytes: the rest was not read)",
            letter_key=self.name.encode(),
            error_kind="BodyTooLarge",
        )
        if await self.runner.send_confirmed([record]) is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps(_NOT_CONFIRMED), content_type="application/json"
            )
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit,
            actual_size=len(beginning),
            text=json.dumps({"error": f"body {reason}"}),
            content_type="application/json",
        )

    def _record(self, raw: bytes, path: str, sender: str, line: int | None = None) -> SourceRecord:
        """The body as a source record: its event, submitted by ``sender``, or why it does
        not map to one or is not the sender's to report."""
        place, key = f"{self.name}:{path}", self.name.encode()
        try:
            event = self.format.event_of(parse_body(raw), ingest_time=utc_now())
        except MappingError as exc:
            return SourceRecord(raw, place, line, error=exc, letter_key=key)
        envelope = event.envelope
        owner = self._owners.get(sender)
        refused = (
            owner.refuses(envelope.source_system, envelope.reporting_country) if owner else None
        )
        if refused is not None:
            error = MappingError(*refused)
            return SourceRecord(
                raw, place, line, error=error, letter_key=key, error_kind=OWNER_MISMATCH
            )
        event = dataclasses.replace(
            event, envelope=dataclasses.replace(envelope, submitted_by=sender)
        )
        return SourceRecord(raw, place, line, event=event, letter_key=key)


async def _read_up_to(stream: StreamReader, size: int) -> bytes:
    """At most ``size`` bytes of a request's body, as they arrive."""
    parts: list[bytes] = []
    taken = 0
    while taken < size:
        part = await stream.read(size - taken)
        if not part:
            break
        parts.append(part)
        taken += len(part)
    return b"".join(parts)


class RateLimit:
    """A token bucket per sender: ``rate`` requests a second, ``burst`` at most at once."""

    def __init__(
        self,
        rate: float = 50.0,
        burst: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # sender -> (tokens, when)

    def wait(self, sender: str) -> float:
        """0 when ``sender`` may make a request now (and it is counted); else the seconds
        until it may."""
        now = self.clock()
        tokens, then = self._buckets.get(sender, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens >= 1 - 1e-9:  # (a sender that waited as long as it was told is let in)
            self._buckets[sender] = (max(tokens - 1, 0.0), now)
            return 0.0
        self._buckets[sender] = (tokens, now)
        return (1 - tokens) / self.rate


class _Pushed(SourceTask):
    """An HTTP source's side of the contract: nothing to poll (senders push, and keep
    their own position); event fields named as the sender's body names them."""

    def __init__(self, name: str, body_format: JsonBodyFormat) -> None:
        self.name, self.format = name, body_format

    def field_name(self, path: str) -> str:
        if path.startswith("payload"):
            return self.format.payload_key + path.removeprefix("payload")
        field = path.removeprefix("envelope.")
        return "record_id" if field == "source_record_id" else field


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


def _errors(errors: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": field, "reason": why} for field, why in errors]


async def poll_forever(
    producer: KafkaProducer, stop: asyncio.Event, health: Health | None = None
) -> None:
    """Serve the producer's delivery callbacks from a thread while the server runs (and
    tell ``health`` that the server's event loop goes round)."""
    while not stop.is_set():
        if health is not None:
            health.beat()
        await asyncio.to_thread(producer.poll, 0.1)
