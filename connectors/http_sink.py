"""Delivering routed events to a partner's HTTP endpoint (CIS+, police services).

Each event is POSTed as JSON (:mod:`liaison.model.jsonform`) with ``Idempotency-Key``: the
event id, the same on every attempt, so the receiver can drop a repeat. Retriable answers
(408, 425, 429, 5xx, a timeout, a refused connection) are tried again after an exponential
backoff with full jitter, for up to ``LIAISON_DELIVERY_GIVE_UP_S`` (five minutes); a
permanent rejection (other 4xx) or the last failed attempt sends the event to the
dead-letter topic with the reason. The consumer
offset of an event is stored only once it was delivered or dead-lettered, so a sink stopped
while an endpoint is down resumes with that event.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from pathlib import Path

import urllib3
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
    """POSTs each event to one endpoint; 2xx is delivered, the rest raises for the runner.

    One pooled connection, kept open between events. Redirects are never followed: a 3xx is
    a refusal (the bearer token goes to the configured endpoint and nowhere else). Plain
    HTTP is allowed only to this machine (a stand-in, a local relay); anything else must be
    HTTPS, verified against ``ca_file`` when given, else the system's trusted CAs."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        token: str,
        timeout_s: float = 10.0,
        ca_file: Path | None = None,
    ) -> None:
        _check_url(name, url)
        self.name, self.url, self._token, self.timeout_s = name, url, token, timeout_s
        try:  # a CA file that cannot be read is a configuration error, found at start
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"{name}: the CA file {ca_file} cannot be read: {exc}"
            ) from None
        self._pool = urllib3.PoolManager(
            num_pools=1,
            maxsize=1,
            retries=False,  # the runner retries, with its backoff and its dead letters
            timeout=urllib3.Timeout(total=timeout_s),
            ssl_context=context,
        )

    def put(self, event: Event, message: Message) -> None:
        del message  # the event says everything the endpoint needs
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=json.dumps(to_json(event)).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self._token}",
                    "Idempotency-Key": str(event.envelope.event_id),
                },
                redirect=False,
                retries=False,
                preload_content=False,  # the body is read below, within its bound
            )
            _settle(response)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise EndpointUnavailableError(type(error).__name__) from None
        status = response.status
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise DeliveryRefusedError(f"HTTP {status}: redirects are not followed")
        if status in _RETRIABLE or status >= 500:
            raise EndpointUnavailableError(f"HTTP {status}")
        raise DeliveryRefusedError(f"HTTP {status}")

    def close(self) -> None:
        self._pool.clear()


# The most of a partner's answer read (its status is what counts; the rest is not waited for).
_ANSWER_BYTES = 64 * 1024


def _settle(response: urllib3.BaseHTTPResponse) -> None:
    """Read the answer's body, at most _ANSWER_BYTES of it: a longer one (or one that never
    ends) closes the connection instead, and the next delivery opens another."""
    try:
        response.read(_ANSWER_BYTES, decode_content=False)
        if response.read(1, decode_content=False):
            response.close()
    finally:
        response.release_conn()


def _check_url(name: str, url: str) -> None:
    try:
        parsed = urllib3.util.parse_url(url)
    except urllib3.exceptions.LocationParseError:
        raise ConfigurationError(f"{name}: endpoint is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"{name}: endpoint must be an http(s) URL")
    if parsed.scheme == "http" and not _on_this_machine(parsed.host):
        raise ConfigurationError(
            f"{name}: an endpoint off this machine must be https (plain http only to loopback)"
        )


def _on_this_machine(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


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
        delivery = HttpDelivery(
            name=name,
            url=url,
            token=token,
            timeout_s=timeout_s,
            ca_file=settings.partner_ca_file,
        )
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
