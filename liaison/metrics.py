"""Every metric Liaison exports, declared once, on a registry the caller gives.

Names follow Prometheus' conventions: a ``liaison_`` prefix, base units (seconds, bytes),
``_total`` for counters. Labels come only from bounded sets: stage, source system, partner,
connector, outcome, reason (an error class or a fixed word), HTTP status. Never an event,
case, record or person identifier, and never a value from a record.

The latency histograms have bucket boundaries at the service-level thresholds (1 s, 5 s and
10 s; see ``deploy/prometheus/rules/liaison-slo.yml``) and reach hours, so a backlog shows
as slow deliveries rather than disappearing into ``+Inf``.

Every process serves its registry on ``/metrics`` (:func:`serve`), on
``LIAISON_METRICS_HOST``:``LIAISON_METRICS_PORT``, beside its ``/healthz`` and ``/readyz``
probes (:mod:`liaison.health`).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from liaison.health import Health
from liaison.settings import Settings

__all__ = [
    "LATENCY_BUCKETS_S",
    "SLO_LATENCY_S",
    "ConnectorMetrics",
    "LagMetrics",
    "PipelineMetrics",
    "serve",
]

log = logging.getLogger(__name__)

# The delivery latency objective: 99 % of deliveries within this many seconds of ingest.
SLO_LATENCY_S = 10.0
LATENCY_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    SLO_LATENCY_S,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    float("inf"),
)


@dataclass(frozen=True)
class PipelineMetrics:
    """What the pipeline worker's stages report."""

    stage_events_in: Counter
    stage_events_out: Counter
    stage_duration: Histogram
    end_to_end_latency: Histogram
    deliveries: Counter
    duplicates: Counter
    watchlist_hits: Counter
    dead_letters: Counter
    source_last_event: Gauge
    stall_repairs: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PipelineMetrics:
        return cls(
            stage_events_in=Counter(
                "liaison_stage_events_in",
                "Events a stage took from its input topic.",
                ["stage"],
                registry=registry,
            ),
            stage_events_out=Counter(
                "liaison_stage_events_out",
                "Events a stage finished with, by what became of them (forwarded, delivered, "
                "or why it went no further).",
                ["stage", "outcome"],
                registry=registry,
            ),
            stage_duration=Histogram(
                "liaison_stage_duration_seconds",
                "Time a stage spent on one event, from taking it to acknowledging it (its "
                "sends confirmed by Kafka).",
                ["stage"],
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            end_to_end_latency=Histogram(
                "liaison_end_to_end_latency_seconds",
                "From the moment a source took the record (ingest time) to its delivery on "
                "the partner's topic; one observation per delivery.",
                ["partner"],
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            deliveries=Counter(
                "liaison_deliveries",
                "Events delivered to a partner's topic, each after its audit record.",
                ["partner"],
                registry=registry,
            ),
            duplicates=Counter(
                "liaison_duplicates",
                "Inputs recognised as duplicates and not forwarded: replay, stale or "
                "cross-source-duplicate.",
                ["kind"],
                registry=registry,
            ),
            watchlist_hits=Counter(
                "liaison_watchlist_hits",
                "Watchlist hits made, by which side arrived second.",
                ["direction"],
                registry=registry,
            ),
            dead_letters=Counter(
                "liaison_dead_letters",
                "Records sent to the dead-letter topic, by stage and error class.",
                ["stage", "reason"],
                registry=registry,
            ),
            source_last_event=Gauge(
                "liaison_source_last_event_timestamp_seconds",
                "When the pipeline last took an event from each source system (Unix time).",
                ["source_system"],
                registry=registry,
            ),
            stall_repairs=Counter(
                "liaison_worker_stall_repairs",
                "Partitions the worker's watchdog found stalled and repaired: kind commit "
                "(commits stood still with acknowledged work past them) or fetch (records "
                "waited and none was read), or stage (a stage held events and acknowledged none); "
                "action seek, or restart when a seek did not help (always for a stage).",
                ["kind", "action"],
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class ConnectorMetrics:
    """What the sources and sinks report, labelled with the connector's name."""

    files: Counter
    records: Counter
    http_requests: Counter
    deliveries: Counter
    delivery_failures: Counter
    dead_letters: Counter
    delivery_duration: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ConnectorMetrics:
        return cls(
            files=Counter(
                "liaison_connector_files",
                "Files a connector finished: archived by a source, written by a sink.",
                ["connector"],
                registry=registry,
            ),
            records=Counter(
                "liaison_connector_records",
                "Records a source took (accepted: on Kafka) or rejected (dead-lettered).",
                ["connector", "result"],
                registry=registry,
            ),
            http_requests=Counter(
                "liaison_connector_http_requests",
                "Requests an HTTP source answered, by status code.",
                ["connector", "status"],
                registry=registry,
            ),
            deliveries=Counter(
                "liaison_sink_deliveries",
                "Events a sink delivered and the far side confirmed.",
                ["connector", "partner"],
                registry=registry,
            ),
            delivery_failures=Counter(
                "liaison_sink_delivery_failures",
                "Failed delivery attempts: retry (will be tried again), refused (permanent, "
                "dead-lettered) or gave-up (attempts exhausted, dead-lettered).",
                ["connector", "partner", "reason"],
                registry=registry,
            ),
            dead_letters=Counter(
                "liaison_dead_letters",
                "Records sent to the dead-letter topic, by stage and error class.",
                ["stage", "reason"],
                registry=registry,
            ),
            delivery_duration=Histogram(
                "liaison_sink_delivery_duration_seconds",
                "Time to deliver one event, retries included.",
                ["connector"],
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
        )


@dataclass(frozen=True)
class LagMetrics:
    """What the lag exporter reports."""

    messages: Gauge
    seconds: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> LagMetrics:
        return cls(
            messages=Gauge(
                "liaison_consumer_lag_messages",
                "Records on the topic not yet committed by the consumer group.",
                ["group", "topic"],
                registry=registry,
            ),
            seconds=Gauge(
                "liaison_consumer_lag_seconds",
                "Age of the oldest record the group has not committed (0 when caught up).",
                ["group", "topic"],
                registry=registry,
            ),
        )


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape or probe."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ServerV6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


_StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _app(registry: CollectorRegistry, health: Health) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/healthz", "/readyz"):
            ok, why = health.alive() if path == "/healthz" else health.ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{why}\n".encode()]
        if path != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"/metrics, /healthz and /readyz are served here\n"]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    return app


def serve(
    settings: Settings, registry: CollectorRegistry, health: Health | None = None
) -> WSGIServer:
    """Serve ``registry`` on ``/metrics`` and ``health`` on ``/healthz`` and ``/readyz`` at
    the configured address, from a daemon thread; returns the server (``server_address``
    tells the port when 0 picked a free one)."""
    server_class = _ServerV6 if ":" in settings.metrics_host else ThreadingWSGIServer
    server = make_server(
        settings.metrics_host,
        settings.metrics_port,
        _app(registry, health or Health()),
        server_class,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    host, port = server.server_address[:2]
    log.info("metrics on http://%s:%s/metrics", host, port)
    return server
