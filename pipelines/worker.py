"""Run the pipeline worker in this process (``liaison worker``)."""

from __future__ import annotations

import faust
from prometheus_client import CollectorRegistry

from liaison.health import Health
from liaison.metrics import serve
from liaison.policy import policy_of
from liaison.settings import Settings
from pipelines.app import create_app
from pipelines.route.versions import publish_policy

__all__ = ["readiness", "run_worker"]

# How often the worker reports to its probes; its liveness limit is many times this.
_BEAT_S = 5.0


def readiness(app: faust.App) -> tuple[bool, str]:
    """Whether this worker holds partitions with its tables recovered, and why not.

    A worker is ready once a rebalance has given it partitions and it has rebuilt their
    tables from the changelogs; while it rebalances or recovers it processes nothing."""
    if app.rebalancing:
        return False, "rebalancing"
    recovery = app.tables.recovery  # type: ignore[attr-defined] # the concrete manager has it
    if app.in_recovery or not recovery.completed.is_set():
        return False, "recovering tables"
    if not app.consumer.assignment():
        return False, "no partitions assigned"
    return True, ""


def run_worker(settings: Settings, bootstrap: str | None = None) -> None:
    """Start the Faust worker and block until it is stopped (SIGINT or SIGTERM), serving
    its metrics (Liaison's and Faust's own sensor) on ``/metrics`` and its probes on
    ``/healthz`` and ``/readyz``."""
    registry = CollectorRegistry()
    policy = policy_of(settings)
    # The policy is on the record before it decides anything (see pipelines.route.versions).
    publish_policy(settings, policy, bootstrap)
    app = create_app(settings, bootstrap, registry=registry, policy=policy)
    health = Health()

    async def beat() -> None:
        # Runs on the event loop: a loop blocked for longer than the limit stops the beats.
        ready, reason = readiness(app)
        health.beat(ready=ready, reason=reason)

    app.timer(interval=_BEAT_S, name="liaison.health")(beat)

    serve(settings, registry, health)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    # Faust's terminal spinner turns every logger up to DEBUG (so that each record spins
    # it): at any level but DEBUG that costs a log record per produced message, for nothing.
    worker.spinner = None
    worker.execute_from_commandline()
