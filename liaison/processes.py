"""The catalogue of Liaison's processes: what runs, what it reads and writes, as whom.

Each part declares its own processes once: ``pipelines.catalogue`` the worker,
``connectors.catalogue`` the sources and sinks, this module the lag exporter. The parts are
found through the ``liaison.processes`` entry points, so the core names no module above it.
The CLI, the local stack, the Kubernetes generator and the Kafka ACLs read this catalogue
instead of saying again which processes exist.

A catalogue is a function of the settings (topic prefix, client id, the worker's app id)
and the routing policy (one sink per partner endpoint), so topics and groups here are the
full names a deployment with those settings uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points

from liaison.errors import ConfigurationError
from liaison.policy import RoutingPolicy
from liaison.settings import Settings

__all__ = [
    "ENTRY_POINTS",
    "Catalogue",
    "Process",
    "catalogue",
    "core_processes",
    "lag_exporter_group",
]

ENTRY_POINTS = "liaison.processes"
_PARTS = ("pipeline", "connector", "monitoring")


@dataclass(frozen=True)
class Process:
    """One kind of process of a deployment, as its part declares it."""

    name: str  # also its log, its Kubernetes workload (``liaison-<name>``), its metrics target
    part: str  # "pipeline", "connector" or "monitoring"
    summary: str
    command: tuple[str, ...]  # the ``liaison`` subcommand that runs it
    principal: str  # its Kafka user
    job: str  # the Prometheus job its metrics belong to (the alert rules use it)
    group: str | None = None  # the consumer group it commits in (its lag is watched)
    consumes: tuple[str, ...] = ()  # topics it consumes in ``group``
    reads: tuple[str, ...] = ()  # topics it reads otherwise (changelogs, positions)
    writes: tuple[str, ...] = ()
    describes: tuple[str, ...] = ()  # topics it only describes: offsets and times, no records
    # Groups it reads under whose lag is not watched: it commits nothing there, or only its
    # own bookkeeping (the read receipts' progress, which follows the partners').
    reader_groups: tuple[str, ...] = ()
    describes_groups: tuple[str, ...] = ()  # groups it only inspects
    describes_group_prefixes: tuple[str, ...] = ()  # groups by prefix it only inspects
    port_setting: str | None = None  # the setting holding the port it serves HTTP on
    directories: tuple[str, ...] = ()  # settings naming directories it shares with others
    secrets: tuple[str, ...] = ()  # secret settings it needs
    replicas: int | None = 1  # None: an autoscaler's to set
    singleton: bool = False  # must never run twice at once
    partner: str | None = None  # the partner a sink delivers to
    egress: bool = False  # delivers to an endpoint outside the deployment


Catalogue = Callable[[Settings, RoutingPolicy], Iterable[Process]]


def lag_exporter_group(settings: Settings) -> str:
    return f"{settings.client_id}-lag-exporter"


def core_processes(settings: Settings, watched: Iterable[Process]) -> list[Process]:
    """The core's own process: the lag exporter, watching every group that commits."""
    committing = [p for p in watched if p.group is not None]
    consumed = list(dict.fromkeys(t for p in committing for t in p.consumes))
    return [
        Process(
            name="lag-exporter",
            part="monitoring",
            summary="The lag exporter: committed offsets of every Liaison group, and when "
            "the record at each was written (it reads no record and commits nothing).",
            command=("lag-exporter",),
            principal="liaison-lag-exporter",
            job="liaison-lag-exporter",
            describes=tuple(consumed),
            reader_groups=(lag_exporter_group(settings),),
            describes_groups=tuple(p.group for p in committing if p.group is not None),
        )
    ]


def catalogue(settings: Settings, policy: RoutingPolicy) -> list[Process]:
    """Every process of a deployment with these settings and this policy: the pipeline's,
    the connectors', then the core's."""
    found = sorted(entry_points(group=ENTRY_POINTS), key=lambda ep: ep.name)
    if not found:
        raise ConfigurationError(
            f"no process catalogue is installed (entry points {ENTRY_POINTS}): "
            "install Liaison's package"
        )
    listed: list[Process] = []
    for entry in found:
        part: Catalogue = entry.load()
        listed.extend(part(settings, policy))
    listed.sort(key=lambda p: _PARTS.index(p.part) if p.part in _PARTS else len(_PARTS))
    listed.extend(core_processes(settings, listed))
    names = [p.name for p in listed]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ConfigurationError(f"two processes share a name: {', '.join(doubled)}")
    return listed
