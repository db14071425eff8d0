"""Run the pipeline worker in this process (``liaison worker``)."""

from __future__ import annotations

import faust
from prometheus_client import CollectorRegistry

from liaison.metrics import serve
from liaison.settings import Settings
from pipelines.app import create_app

__all__ = ["run_worker"]


def run_worker(settings: Settings, bootstrap: str | None = None) -> None:
    """Start the Faust worker and block until it is stopped (SIGINT or SIGTERM), serving
    its metrics (Liaison's and Faust's own sensor) on ``/metrics``."""
    registry = CollectorRegistry()
    app = create_app(settings, bootstrap, registry=registry)
    serve(settings, registry)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    # Faust's terminal spinner turns every logger up to DEBUG (so that each record spins
    # it): at any level but DEBUG that costs a log record per produced message, for nothing.
    worker.spinner = None
    worker.execute_from_commandline()
