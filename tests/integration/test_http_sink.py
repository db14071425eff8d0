"""The HTTP sink against real local HTTP servers that fail, stall, recover or refuse."""

from __future__ import annotations

import http.server
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.catalogue import sink_group
from connectors.http_sink import HttpSink, RetryPolicy
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, DELIVERY_RECEIPT, EVENT
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    producer_config,
    read_to_end,
)
from liaison.kafka.topics import DEAD_LETTERS, RECEIPTS
from liaison.metrics import ConnectorMetrics
from liaison.model import to_avro
from liaison.model.common import Event
from stack.synthetic.generator import TrafficGenerator

pytestmark = pytest.mark.integration

ATTEMPTS = 5
FAST = RetryPolicy(max_attempts=ATTEMPTS, base_s=0.05, cap_s=0.2)


class Endpoint:
    """A partner endpoint whose answers follow a script, then ``then`` for good."""

    def __init__(
        self, script: list[int | str], then: int, headers: dict[str, str] | None = None
    ) -> None:
        self.script, self.then = list(script), then
        self.requests: list[tuple[str, str]] = []  # (idempotency key, authorization)
        self.accepted: Counter[str] = Counter()
        self.connections: set[tuple[str, int]] = set()  # the clients' addresses seen
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps a connection open for the next request

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.connections.add(self.client_address[:2])
                key = self.headers.get("Idempotency-Key", "")
                endpoint.requests.append((key, self.headers.get("Authorization", "")))
                answer = endpoint.script.pop(0) if endpoint.script else endpoint.then
                if answer == "stall":
                    time.sleep(1.5)  # longer than the sink's timeout
                    answer = 503
                if answer == 200:
                    endpoint.accepted[key] += 1
                self.send_response(int(answer))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deliveries"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _events(count: int) -> Iterator[Event]:
    for record in TrafficGenerator(seed=91).take(count * 3):
        if record.event is not None:
            yield record.event


def _produce(settings, topic: str, events) -> None:
    codec = AvroCodec(EVENT)
    with KafkaProducer(producer_config(settings)) as producer:
        for event in events:
            producer.produce(
                topic, codec.encode(to_avro(event)), key=str(event.envelope.event_id).encode()
            )


def _run(sink: HttpSink, until, limit_s: float = 60.0) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + limit_s
    while not until() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=30)


def _receipts(settings) -> list[dict[str, Any]]:
    """Every receipt the test's sinks wrote."""
    codec = AvroCodec(DELIVERY_RECEIPT)
    topic = RECEIPTS.full_name(settings.topic_prefix)
    return [codec.decode(m.value() or b"") for m in read_to_end(settings, [topic])]


def _dead_letters_of(settings, sink: HttpSink, count: int, group: str) -> list[dict[str, Any]]:
    """Run ``sink`` until ``count`` dead letters are on the topic; they, decoded."""
    letters = AvroCodec(DEAD_LETTER_SCHEMA)
    dead: list[dict[str, Any]] = []
    topic = DEAD_LETTERS.full_name(settings.topic_prefix)
    with KafkaConsumer(consumer_config(settings, group), [topic]) as consumer:

        def all_dead() -> bool:
            dead.extend(letters.decode(m.value() or b"") for m in consumer.consume(50, 0.1))
            return len(dead) >= count

        _run(sink, all_dead)
    return dead


def test_failures_and_a_stall_are_retried_with_the_same_key_until_delivered(declared_topics):
    settings = declared_topics
    topic = settings.topic_prefix + "partner.nl-police"
    events = list(_events(15))[:15]
    _produce(settings, topic, events)
    ids = {str(e.envelope.event_id) for e in events}
    registry = CollectorRegistry()
    with Endpoint([503, "stall", 429, 502], then=200) as endpoint:  # 4 of 5 attempts
        sink = HttpSink(
            settings,
            name="nl-police-sink",
            topic=topic,
            url=endpoint.url,
            token="partner-token",
            partner="NL-POLICE",
            metrics=ConnectorMetrics.create(registry),
            retry=FAST,
            timeout_s=1.0,
        )
        _run(sink, lambda: set(endpoint.accepted) >= ids)
    assert set(endpoint.accepted) == ids
    tries = Counter(key for key, _ in endpoint.requests)
    assert max(tries.values()) >= 3  # the first event went through the failures
    assert set(tries) == ids  # every attempt carried the event's own key
    assert {auth for _, auth in endpoint.requests} == {"Bearer partner-token"}
    labels = {"connector": "nl-police-sink", "partner": "NL-POLICE"}
    get = registry.get_sample_value
    assert get("liaison_sink_deliveries_total", labels) == sum(endpoint.accepted.values())
    assert get("liaison_sink_delivery_failures_total", {**labels, "reason": "retry"}) == 4
    assert get("liaison_sink_delivery_failures_total", {**labels, "reason": "gave-up"}) == 0
    # A receipt per delivered record, on the record before the sink moved past it.
    receipts = _receipts(settings)
    assert {str(r["event_id"]) for r in receipts} == ids
    assert {(r["outcome"], r["partner_id"], r["sink"]) for r in receipts} == {
        ("DELIVERED", "NL-POLICE", "nl-police-sink")
    }

    # Everything was delivered, so nothing is read again.
    with Endpoint([], then=200) as again:
        sink = HttpSink(
            settings,
            name="nl-police-sink",
            topic=topic,
            url=again.url,
            token="partner-token",
            retry=FAST,
            timeout_s=1.0,
        )
        _run(sink, lambda: False, limit_s=4)
    assert again.requests == []


def test_a_refusing_endpoint_yields_dead_letters_not_a_stuck_sink(declared_topics):
    settings = declared_topics
    topic = settings.topic_prefix + "partner.de-bka"
    events = list(_events(6))[:6]
    _produce(settings, topic, events)
    with Endpoint([], then=422) as endpoint:
        sink = HttpSink(
            settings,
            name="de-bka-sink",
            topic=topic,
            url=endpoint.url,
            token="t",
            retry=FAST,
            timeout_s=1.0,
        )
        dead = _dead_letters_of(settings, sink, len(events), "check-http-sink")
    assert len(dead) == len(events)
    assert {d["error_class"] for d in dead} == {"DeliveryRejected"}
    assert len(endpoint.requests) == len(events)  # a permanent refusal is not retried
    receipts = _receipts(settings)
    assert {str(r["event_id"]) for r in receipts} == {str(e.envelope.event_id) for e in events}
    assert {r["outcome"] for r in receipts} == {"REFUSED"}


def test_an_endpoint_that_never_recovers_is_given_up_after_the_bounded_attempts(declared_topics):
    settings = declared_topics
    topic = settings.topic_prefix + "partner.europol"
    (event,) = list(_events(1))[:1]
    _produce(settings, topic, [event])
    with Endpoint([], then=503) as endpoint:
        sink = HttpSink(
            settings,
            name="europol-sink",
            topic=topic,
            url=endpoint.url,
            token="t",
            retry=FAST,
            timeout_s=1.0,
        )
        _run(sink, lambda: len(endpoint.requests) >= ATTEMPTS, limit_s=30)
        time.sleep(0.5)
    assert len(endpoint.requests) == ATTEMPTS


def test_a_sink_stopped_while_the_endpoint_is_down_resumes_with_the_undelivered(
    declared_topics,
):
    settings = declared_topics
    topic = settings.topic_prefix + "partner.interpol"
    events = list(_events(8))[:8]
    _produce(settings, topic, events)
    ids = {str(e.envelope.event_id) for e in events}
    patient = RetryPolicy(max_attempts=1000, base_s=0.05, cap_s=0.1)

    # Three events get through, then the endpoint goes down; the sink is stopped mid-retry.
    with Endpoint([200, 200, 200], then=503) as first:
        sink = HttpSink(
            settings,
            name="interpol-sink",
            topic=topic,
            url=first.url,
            token="t",
            retry=patient,
            timeout_s=1.0,
        )
        _run(sink, lambda: len(first.requests) >= 10, limit_s=30)
    delivered = set(first.accepted)
    assert len(delivered) == 3
    stuck = first.requests[-1][0]
    assert stuck not in delivered

    with Endpoint([], then=200) as second:
        sink = HttpSink(
            settings,
            name="interpol-sink",
            topic=topic,
            url=second.url,
            token="t",
            retry=FAST,
            timeout_s=1.0,
        )
        _run(sink, lambda: delivered | set(second.accepted) >= ids, limit_s=60)
    # Nothing was lost: the offset never moved past the event the endpoint did not take.
    assert delivered | set(second.accepted) == ids
    assert stuck in second.accepted
    assert not delivered & set(second.accepted)  # and what was confirmed is not sent again


def test_a_redirect_is_refused_and_never_followed_with_the_token(declared_topics):
    settings = declared_topics
    topic = settings.topic_prefix + "partner.nl-police"
    events = list(_events(3))[:3]
    _produce(settings, topic, events)
    with (
        Endpoint([], then=200) as elsewhere,
        Endpoint([], then=302, headers={"Location": elsewhere.url}) as endpoint,
    ):
        sink = HttpSink(
            settings,
            name="nl-police-sink",
            topic=topic,
            url=endpoint.url,
            token="partner-token",
            retry=FAST,
            timeout_s=1.0,
        )
        dead = _dead_letters_of(settings, sink, len(events), "check-redirect")
    assert elsewhere.requests == []  # the token went nowhere but the configured endpoint
    assert len(endpoint.requests) == len(events)  # and a redirect is not tried again
    assert len(dead) == len(events)
    assert {d["error_class"] for d in dead} == {"DeliveryRejected"}
    assert all("302" in d["error_message"] for d in dead)
    assert {r["outcome"] for r in _receipts(settings)} == {"REFUSED"}


def test_one_connection_carries_the_deliveries(declared_topics):
    settings = declared_topics
    topic = settings.topic_prefix + "partner.de-bka"
    events = list(_events(12))[:12]
    _produce(settings, topic, events)
    ids = {str(e.envelope.event_id) for e in events}
    with Endpoint([], then=200) as endpoint:
        sink = HttpSink(
            settings,
            name="de-bka-sink",
            topic=topic,
            url=endpoint.url,
            token="t",
            retry=FAST,
            timeout_s=5.0,
        )
        _run(sink, lambda: set(endpoint.accepted) >= ids)
    assert set(endpoint.accepted) == ids
    assert len(endpoint.connections) == 1  # kept open, not one connection per event


def test_a_sink_waiting_out_an_endpoint_stays_in_its_group(declared_topics):
    # The first event waits out 60 refusals (about 30 s of backoff), longer than the
    # group allows between two polls (here 10 s; five minutes by default, and a batch's
    # events can each wait up to the retry budget): the sink keeps polling, its
    # partitions paused, so it is not taken for gone, and every event is delivered once.
    settings = declared_topics
    topic = settings.topic_prefix + "partner.nl-police"
    events = list(_events(4))[:4]
    _produce(settings, topic, events)
    ids = {str(e.envelope.event_id) for e in events}
    patient = RetryPolicy(give_up_after_s=120.0, base_s=0.2, cap_s=1.0)
    with Endpoint([503] * 60, then=200) as endpoint:
        sink = HttpSink(
            settings,
            name="nl-police-sink",
            topic=topic,
            url=endpoint.url,
            token="t",
            retry=patient,
            timeout_s=1.0,
        )
        runner = sink.runner
        runner.consumer.close()
        short = {"max.poll.interval.ms": 10_000, "session.timeout.ms": 6_000}
        group = sink_group(settings, "nl-police-sink")
        runner.consumer = KafkaConsumer({**consumer_config(settings, group), **short}, [topic])
        done_at: list[float] = []

        def settled() -> bool:
            # Every event delivered, then 10 s more: anything read again would come then.
            if not done_at and set(endpoint.accepted) >= ids:
                done_at.append(time.monotonic())
            return bool(done_at) and time.monotonic() - done_at[0] > 10

        _run(sink, settled, limit_s=120)
    assert endpoint.accepted == Counter(dict.fromkeys(ids, 1))
    assert sorted(str(r["event_id"]) for r in _receipts(settings)) == sorted(ids)
