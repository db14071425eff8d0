"""The connectors' processes, declared once (see :mod:`liaison.processes`).

A connector kind is what ``liaison connector run NAME`` runs: its name, the function that
runs it (named by its dotted path, so that choosing one loads no other), and the processes
of that kind a deployment has. Adding a connector means adding its package and one
:class:`ConnectorKind` here; the command line, the local stack, the Kubernetes manifests and
the Kafka ACLs follow from this table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pkgutil import resolve_name

from liaison.health import Health
from liaison.kafka.topics import (
    CONNECT_POSITIONS,
    DEAD_LETTERS,
    INGEST_CEN,
    INGEST_CISPLUS,
    INGEST_POLICE,
    RECEIPTS,
    TopicSpec,
)
from liaison.metrics import ConnectorMetrics
from liaison.policy import Partner, RoutingPolicy
from liaison.processes import Process
from liaison.settings import Settings

__all__ = [
    "HTTP_SOURCES",
    "KINDS",
    "ConnectorKind",
    "HttpSourceSpec",
    "Running",
    "kind_named",
    "positions_reader_group",
    "processes",
    "read_receipts_group",
    "sink_group",
    "sink_name",
]


@dataclass(frozen=True)
class Running:
    """What a connector gets when it runs as a process."""

    kind: str  # the connector's name, as ``liaison connector run`` took it
    settings: Settings
    policy: RoutingPolicy
    stop: threading.Event
    metrics: ConnectorMetrics
    health: Health
    say: Callable[[str], None]  # one line for the operator, at start
    partner: str | None = None  # the partner id, for a sink that takes one


@dataclass(frozen=True)
class ConnectorKind:
    name: str
    runner: str  # "module:function", a function taking a :class:`Running`
    processes: Callable[[Settings, RoutingPolicy], list[Process]]
    takes_partner: bool = False  # run with --partner ID

    def run(self, running: Running) -> None:
        function: Callable[[Running], None] = resolve_name(self.runner)
        function(running)


@dataclass(frozen=True)
class HttpSourceSpec:
    """One HTTP source: where it listens, what its bodies are, where its events go."""

    endpoint: str  # also the system that sends, as the tokens name it
    path: str  # under /v1/
    body_format: str  # "module:attribute", a JsonBodyFormat
    topic: TopicSpec
    port_setting: str
    bulk: bool = False  # also takes a file of records at once (the watchlist import)


HTTP_SOURCES = {
    "cisplus": HttpSourceSpec(
        "cisplus", "records", "connectors.cisplus.format:FORMAT", INGEST_CISPLUS, "cisplus_port"
    ),
    "police": HttpSourceSpec(
        "police",
        "alerts",
        "connectors.police.format:FORMAT",
        INGEST_POLICE,
        "police_port",
        bulk=True,
    ),
}


def sink_name(partner: Partner) -> str:
    """The sink that delivers ``partner``'s topic, for a partner with an endpoint."""
    return "cen-sink" if partner.kind == "cen" else f"{partner.endpoint}-sink"


def sink_group(settings: Settings, sink: str) -> str:
    """The consumer group a sink delivers under (its committed offsets are its progress)."""
    return f"{settings.client_id}-{sink}"


def read_receipts_group(settings: Settings) -> str:
    """The group the read receipts commit how far they have receipted in."""
    return f"{settings.client_id}-read-receipts"


def positions_reader_group(settings: Settings, connector: str) -> str:
    """The group a source reads its resume positions under (it never commits there)."""
    return f"{settings.client_id}-{connector}-positions-reader"


def _cen_source(settings: Settings, _policy: RoutingPolicy) -> list[Process]:
    prefix = settings.topic_prefix
    return [
        Process(
            name="cen-source",
            part="connector",
            summary="The CEN source: the inbox into ingest.cen, its resume positions.",
            command=("connector", "run", "cen-source"),
            principal="liaison-cen-source",
            job="liaison-connector",
            reads=(CONNECT_POSITIONS.full_name(prefix),),
            writes=(
                INGEST_CEN.full_name(prefix),
                CONNECT_POSITIONS.full_name(prefix),
                DEAD_LETTERS.full_name(prefix),
            ),
            reader_groups=(positions_reader_group(settings, "cen-source"),),
            directories=("cen_inbox", "cen_archive"),
            singleton=True,  # one reader per inbox: its resume positions are its own
        )
    ]


def _http_source(spec: HttpSourceSpec, summary: str) -> Callable[..., list[Process]]:
    def listed(settings: Settings, _policy: RoutingPolicy) -> list[Process]:
        prefix = settings.topic_prefix
        return [
            Process(
                name=f"{spec.endpoint}-source",
                part="connector",
                summary=summary,
                command=("connector", "run", f"{spec.endpoint}-source"),
                principal=f"liaison-{spec.endpoint}-source",
                job="liaison-connector",
                writes=(spec.topic.full_name(prefix), DEAD_LETTERS.full_name(prefix)),
                port_setting=spec.port_setting,
                secrets=("http_tokens",),
                replicas=2,
            )
        ]

    return listed


def _sink(settings: Settings, partner: Partner, command: tuple[str, ...]) -> Process:
    name = sink_name(partner)
    cen = partner.kind == "cen"
    return Process(
        name=name,
        part="connector",
        summary=f"The sink that delivers {partner.id}'s topic to its endpoint.",
        command=command,
        principal=f"liaison-{name}",
        job="liaison-connector",
        group=sink_group(settings, name),
        consumes=(settings.topic_prefix + partner.topic,),
        writes=(
            DEAD_LETTERS.full_name(settings.topic_prefix),
            RECEIPTS.full_name(settings.topic_prefix),
        ),
        directories=("cen_outbox",) if cen else (),
        secrets=() if cen else ("partner_endpoints",),
        replicas=1 if cen else 2,
        singleton=cen,  # one writer numbers the outbox's upload files
        partner=partner.id,
        egress=not cen,
    )


def _cen_sinks(settings: Settings, policy: RoutingPolicy) -> list[Process]:
    return [
        _sink(settings, p, ("connector", "run", "cen-sink"))
        for p in policy.partners
        if p.endpoint is not None and p.kind == "cen"
    ]


def _http_sinks(settings: Settings, policy: RoutingPolicy) -> list[Process]:
    return [
        _sink(settings, p, ("connector", "run", "http-sink", "--partner", p.id))
        for p in policy.partners
        if p.endpoint is not None and p.kind != "cen"
    ]


def _read_receipts(settings: Settings, policy: RoutingPolicy) -> list[Process]:
    readers = [p for p in policy.partners if p.reads_kafka]
    if not readers:
        return []
    return [
        Process(
            name="read-receipts",
            part="connector",
            summary="Receipts for the partners that read Kafka themselves: what their groups "
            "committed.",
            command=("connector", "run", "read-receipts"),
            principal="liaison-read-receipts",
            job="liaison-connector",
            reads=tuple(settings.topic_prefix + p.topic for p in readers),
            writes=(RECEIPTS.full_name(settings.topic_prefix),),
            reader_groups=(read_receipts_group(settings),),
            describes_group_prefixes=tuple(p.group_prefix for p in readers),
            singleton=True,  # a second would only write the same receipts again
        )
    ]


KINDS = (
    ConnectorKind("cen-source", "connectors.cen.source:run", _cen_source),
    ConnectorKind(
        "cisplus-source",
        "connectors.http_runner:run",
        _http_source(HTTP_SOURCES["cisplus"], "The CIS+ HTTP source: records into ingest.cisplus."),
    ),
    ConnectorKind(
        "police-source",
        "connectors.http_runner:run",
        _http_source(
            HTTP_SOURCES["police"],
            "The police HTTP source: alerts and watchlist imports into ingest.police.",
        ),
    ),
    ConnectorKind("cen-sink", "connectors.cen.sink:run", _cen_sinks),
    ConnectorKind("http-sink", "connectors.http_sink:run", _http_sinks, takes_partner=True),
    ConnectorKind("read-receipts", "connectors.read_receipts:run", _read_receipts),
)


def kind_named(name: str) -> ConnectorKind:
    return next(kind for kind in KINDS if kind.name == name)


def processes(settings: Settings, policy: RoutingPolicy) -> list[Process]:
    """Every connector process: the sources in the table's order, then the sinks in the
    policy's order of partners."""
    listed = [p for kind in KINDS for p in kind.processes(settings, policy)]
    order = {partner.id: n for n, partner in enumerate(policy.partners)}
    return sorted(listed, key=lambda p: -1 if p.partner is None else order[p.partner])
