"""Delivering routed events to a partner's HTTP endpoint (CIS+, police services).

Each event is POSTed as JSON (:mod:`liaison.model.jsonform`) with ``Idempotency-Key``: the
event id, the same on every attempt, so the receiver can drop a repeat. Retriable answers
(408, 425, 429, 5xx, a timeout, a refused connection) are tried again after an exponential
backoff with full jitter, up to ``max_attempts``; a permanent rejection (other 4xx) or the
last failed attempt sends the event to the dead-letter topic with the reason. The consumer
offset of an event is stored only once it was delivered or dead-lettered, so a sink stopped
while an endpoint is down resumes with that event.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

from confluent_kafka import Message

from connectors.deadletters import record_dead_letter
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER, EVENT
from liaison.errors import ConfigurationError, SerdeError
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    producer_config,
    resolve_bootstrap,
)
from liaison.kafka.topics import DEAD_LETTER as DEAD_LETTER_TOPIC
from liaison.model import from_avro, to_avro
from liaison.model.common import Event
from liaison.model.jsonform import to_json
from liaison.settings import Settings

__all__ = ["HttpSink", "RetryPolicy"]

log = logging.getLogger(__name__)
_RETRIABLE = {408, 425, 429}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    timeout_s: float = 10.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt))."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt))


class HttpSink:
    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        topic: str,
        url: str,
        token: str,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{name}: endpoint must be an http(s) URL")
        bootstrap = resolve_bootstrap(settings)
        self.name, self.topic, self.url, self._token = name, topic, url, token
        self.retry = retry or RetryPolicy()
        self.consumer = KafkaConsumer(
            consumer_config(settings, f"{settings.client_id}-{name}", bootstrap), [topic]
        )
        self.producer = KafkaProducer(producer_config(settings, bootstrap))
        self.events, self.letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER)
        self.dead_topic = DEAD_LETTER_TOPIC.full_name(settings.topic_prefix)
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                for message in self.consumer.consume(100, timeout_s=1.0):
                    if not self.handle(message, stop):
                        return  # stopped while the endpoint failed: resume here next time
                    self.consumer.store(message)
        finally:
            self.consumer.close()
            self.producer.close()

    def handle(self, message: Message, stop: threading.Event) -> bool:
        """Deliver or dead-letter one record; False if stopped before either."""
        try:
            event = from_avro(Event, self.events.decode(message.value() or b""))
        except (SerdeError, ValueError, TypeError, KeyError) as exc:
            return self._dead_letter(message, type(exc).__name__, str(exc))
        body = json.dumps(to_json(event)).encode()
        key = str(event.envelope.event_id)
        reason = "no attempt made"
        for attempt in range(self.retry.max_attempts):
            if attempt and stop.wait(self.retry.delay(attempt, self._rng)):
                return False
            outcome, reason = self._post(body, key)
            if outcome == "delivered":
                return True
            if outcome == "permanent":
                return self._dead_letter(message, "DeliveryRejected", reason)
            log.warning("%s: attempt %d failed: %s", self.name, attempt + 1, reason)
        return self._dead_letter(
            message, "DeliveryFailed", f"{self.retry.max_attempts} attempts failed; last: {reason}"
        )

    def _post(self, body: bytes, key: str) -> tuple[str, str]:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._token}",
                "Idempotency-Key": key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.retry.timeout_s) as response:  # noqa: S310
                return "delivered", f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            kind = "retry" if error.code in _RETRIABLE or error.code >= 500 else "permanent"
            return kind, f"HTTP {error.code}"
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as error:
            return "retry", type(error).__name__

    def _dead_letter(self, message: Message, kind: str, reason: str) -> bool:
        letter = record_dead_letter(message, stage=self.name, error_class=kind, reason=reason)
        self.producer.produce(
            self.dead_topic, self.letters.encode(to_avro(letter)), key=message.key()
        )
        self.producer.flush()  # in Kafka before the offset moves
        return True
