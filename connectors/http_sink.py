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
import threading
import urllib.error
import urllib.request

from confluent_kafka import Message

from connectors.catalogue import Running, sink_name
from connectors.contract import RetryPolicy, SinkRunner, SinkTask
from liaison.errors import ConfigurationError, DeliveryRefusedError, EndpointUnavailableError
from liaison.health import Health
from liaison.metrics import ConnectorMetrics
from liaison.model.common import Event
from liaison.model.jsonform import to_json
from liaison.settings import Settings, env_name

__all__ = ["HttpDelivery", "HttpSink", "RetryPolicy"]

_RETRIABLE = {408, 425, 429}


class HttpDelivery(SinkTask):
    """POSTs each event to one endpoint; 2xx is delivered, the rest raises for the runner."""

    def __init__(self, *, name: str, url: str, token: str, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{name}: endpoint must be an http(s) URL")
        self.name, self.url, self._token, self.timeout_s = name, url, token, timeout_s

    def put(self, event: Event, message: Message) -> None:
        del message  # the event says everything the endpoint needs
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=json.dumps(to_json(event)).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._token}",
                "Idempotency-Key": str(event.envelope.event_id),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s):  # noqa: S310
                return
        except urllib.error.HTTPError as error:
            if error.code in _RETRIABLE or error.code >= 500:
                raise EndpointUnavailableError(f"HTTP {error.code}") from None
            raise DeliveryRefusedError(f"HTTP {error.code}") from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as error:
            raise EndpointUnavailableError(type(error).__name__) from None


class HttpSink:
    """A partner topic delivered to one HTTP endpoint (the runner plus :class:`HttpDelivery`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        topic: str,
        url: str,
        token: str,
        partner: str = "",
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        metrics: ConnectorMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.name = name
        delivery = HttpDelivery(name=name, url=url, token=token, timeout_s=timeout_s)
        self.runner = SinkRunner(
            settings,
            delivery,
            topic=topic,
            partner=partner or name,
            retry=retry,
            metrics=metrics,
            health=health,
        )

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)


def run(running: Running) -> None:
    """``liaison connector run http-sink --partner ID``: one partner's topic to its endpoint."""
    settings = running.settings
    partners = running.policy.partners
    partner = next((p for p in partners if p.id == running.partner), None)
    if partner is None or partner.endpoint is None or partner.kind == "cen":
        raise ConfigurationError(
            f"--partner must name a partner with an HTTP endpoint in the policy; "
            f"those are {', '.join(p.id for p in partners if p.endpoint and p.kind != 'cen')}"
        )
    target = (settings.partner_endpoints or {}).get(partner.endpoint)
    if target is None:
        raise ConfigurationError(
            f"no URL and token for endpoint {partner.endpoint!r} in {env_name('partner_endpoints')}"
        )
    topic = settings.topic_prefix + partner.topic
    running.say(f"http-sink: {topic} to {partner.endpoint}")
    HttpSink(
        settings,
        name=sink_name(partner),
        topic=topic,
        url=target.url,
        token=target.token.get_secret_value(),
        partner=partner.id,
        metrics=running.metrics,
        health=running.health,
    ).run(running.stop)
