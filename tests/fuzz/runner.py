"""Running one target with Hypothesis: a fixed seed, a per-case deadline, and the finding
(the smallest failing input Hypothesis shrinks to) written to the corpus."""

from __future__ import annotations

import hashlib
import signal
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz.targets import CORPUS, Target

__all__ = ["DEADLINE", "MEMORY_BOUND_MB", "Outcome", "fuzz"]

DEADLINE = timedelta(seconds=1)  # no case may take longer
# Hypothesis checks the deadline when a case returns; one that never does is interrupted.
HANG = 5.0


class HangError(Exception):
    pass


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise HangError in this (the main) thread if the block runs longer than
    ``seconds``."""

    def rang(_signal: int, _frame: object) -> None:
        raise HangError(f"no answer within {seconds:g} s: the case hangs")

    previous = signal.signal(signal.SIGALRM, rang)
    # An alarm already set (pytest-timeout's, say) is put back, less the time spent here.
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = max(outer - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


MEMORY_BOUND_MB = 768  # the whole fuzzing process, peak resident memory


@dataclass
class Outcome:
    cases: int = 0
    findings: list[str] = field(default_factory=list)


def fuzz(target: Target, cases: int, chosen_seed: int = 0, keep: bool = True) -> Outcome:
    """Run ``cases`` inputs through ``target``; a failing one is shrunk, reported and (with
    ``keep``) saved as ``corpus/<target>/<digest>.bin`` for the regression test."""
    outcome = Outcome()
    failing: list[Any] = []

    @seed(chosen_seed)
    @settings(
        max_examples=cases,
        deadline=DEADLINE,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(target.inputs)
    def case(data: Any) -> None:
        outcome.cases += 1
        try:
            with _alarm(HANG):
                target.run(data)
        except Exception:
            failing[:] = [data]
            raise

    try:
        case()
    except Exception as exc:  # noqa: BLE001 - every escape is a finding, reported whole
        lines = traceback.format_exception_only(type(exc), exc)
        outcome.findings.append("".join(lines).strip().splitlines()[0][:300])
        if keep and failing and isinstance(failing[0], bytes):
            folder = CORPUS / target.name
            folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(failing[0]).hexdigest()[:16]
            (folder / f"{name}.bin").write_bytes(failing[0])
            outcome.findings.append(f"input saved as {folder.name}/{name}.bin")
    return outcome
