"""``python -m tests.fuzz [--cases N] [--seed S] [TARGET ...]``: every target (or those
named) with N cases each; prints per target the cases run, cases per second, the peak
memory and the findings, and exits 1 if there is any."""

from __future__ import annotations

import argparse
import resource
import sys
import time

from tests.fuzz.runner import MEMORY_BOUND_MB, fuzz
from tests.fuzz.targets import TARGETS


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], default=[])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    chosen = args.targets or list(TARGETS)
    print(f"{'target':12} {'cases':>8} {'cases/s':>9} {'peak MB':>8}  findings")
    found = 0
    for name in chosen:
        started = time.monotonic()
        outcome = fuzz(TARGETS[name], args.cases, args.seed)
        rate = outcome.cases / max(time.monotonic() - started, 1e-9)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        over = peak > MEMORY_BOUND_MB
        findings = [
            *outcome.findings,
            *([f"peak memory over {MEMORY_BOUND_MB} MB"] if over else []),
        ]
        found += len(findings)
        print(
            f"{name:12} {outcome.cases:8d} {rate:9.0f} {peak:8.0f}  "
            + (str(len(findings)) if findings else "0")
        )
        for finding in findings:
            print(f"    {finding}")
        sys.stdout.flush()
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
