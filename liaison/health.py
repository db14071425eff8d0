"""Liveness and readiness of one process, for the orchestrator's probes.

Each process has one :class:`Health`. Its work loop calls :meth:`Health.beat` every time
round, saying whether it is ready (a sink: partitions assigned; the worker: partitions
assigned and tables recovered; an HTTP source: listening). The metrics server answers:

- ``/healthz``: 200 while the loop has beaten within ``stale_after_s``; 503 once it stops
  (a deadlock or a blocked event loop), so that the process is restarted;
- ``/readyz``: 200 while alive and ready; 503 otherwise, with the reason in the body, so
  that no traffic (an HTTP sender, a rolling update's next step) counts on it yet.

The reason is a fixed phrase of the caller's, never a value from a record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Health"]


class Health:
    """The last beat of a process's work loop, and whether it said it was ready."""

    def __init__(
        self,
        stale_after_s: float = 120.0,
        start_grace_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stale_after_s = stale_after_s
        self.start_grace_s = start_grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._created = clock()
        self._beat: float | None = None
        self._ready = False
        self._reason = "starting"

    def beat(self, *, ready: bool = True, reason: str = "") -> None:
        """The loop went round; ``ready`` says whether it can do its work now (and
        ``reason`` why not)."""
        with self._lock:
            self._beat = self._clock()
            self._ready = ready
            self._reason = "" if ready else (reason or "not ready")

    def alive(self) -> tuple[bool, str]:
        """Whether the loop beat within ``stale_after_s``; before its first beat, whether
        start-up (connecting, recovering tables) is still within ``start_grace_s``."""
        with self._lock:
            last = self._beat
        now = self._clock()
        if last is None:
            if now - self._created > self.start_grace_s:
                return False, f"no work loop after {self.start_grace_s:.0f}s"
            return True, "starting"
        age = now - last
        if age > self.stale_after_s:
            return False, f"work loop silent for {age:.0f}s (limit {self.stale_after_s:.0f}s)"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        """Whether the process can take its share of the work now."""
        alive, why = self.alive()
        if not alive:
            return False, why
        with self._lock:
            if self._beat is None:
                return False, "starting"
            return self._ready, self._reason or "ok"
