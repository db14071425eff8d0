"""What a benchmark run is asked for, and what it finds per system."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from liaison.errors import LiaisonError

__all__ = ["BenchOptions", "StalledError", "System", "SystemResult"]


class StalledError(LiaisonError):
    """A system stopped making progress on the workload."""


@dataclass(frozen=True)
class BenchOptions:
    events: int = 20_000
    seed: int = 11
    latency_rate: float | None = None  # default: half of Liaison's single-worker throughput
    latency_events: int = 5_000
    out_dir: Path = Path("bench-results")
    peer_python: Path | None = None  # the peer's virtual environment's python, if set up
    timeout_s: float = 1200.0
    stall_s: float = 120.0  # a system whose lag does not shrink for this long has stalled
    profile: bool = False  # one more single-worker pass, under cProfile, not timed
    systems: tuple[str, ...] = ()  # only these (by name); all when empty


@dataclass
class SystemResult:
    name: str
    events: int
    seconds: float = 0.0
    throughput: float = 0.0
    peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    state_bytes: int = 0
    deliveries: int = 0
    records_written: int = 0  # every record it wrote, to any topic (changelogs included)
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_samples_ms: list[float] = field(default_factory=list)


@dataclass
class System:
    name: str
    group: str
    reads: list[str]  # topic names without prefix: what its group consumes
    first_outputs: list[str]
    last_outputs: list[str]
    start: Callable[[str, str, Path], list[subprocess.Popen[bytes]]]  # prefix, bootstrap, logs
    needs_group: bool = True  # wait for the group to be stable before offering load
