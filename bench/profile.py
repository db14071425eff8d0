"""Where the single worker's time goes, from its cProfile record.

Each function's own time (cProfile's ``tottime``) is given to a part of the work by where
the function lives: the Avro codec (decode, encode), the model mapping, validation, each
stage's logic, the stage wiring, metrics, Faust, the Kafka client, the event loop, and
time spent waiting for the network. Time in a function that belongs to none of them (a
builtin, a standard-library helper) goes to the part of the function that called it.
"""

from __future__ import annotations

import pstats
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["PARTS", "part_of", "summarise"]

Func = tuple[str, int, str]  # file, line, function name, as pstats keys them

# (part, test on "file:function"): the first that matches names the part.
_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("Avro decode", ("liaison/avro/codec.py:decode",)),
    ("Avro encode", ("liaison/avro/codec.py:encode",)),
    ("model mapping", ("liaison/model/",)),
    ("validation", ("liaison/validation.py",)),
    ("dedupe", ("pipelines/dedupe/", "pipelines/state.py")),
    ("enrich and watch", ("pipelines/enrich/",)),
    ("route", ("pipelines/route/",)),
    ("stage wiring", ("pipelines/stages.py", "pipelines/io.py", "pipelines/window.py")),
    ("metrics", ("prometheus_client/",)),
    ("Faust", ("/faust/", "/mode/")),
    ("Kafka client (aiokafka)", ("/aiokafka/", "/kafka/")),
    ("waiting for the network", ("select.epoll",)),
    ("event loop", ("/asyncio/", "_contextvars", "selectors.py", "_socket.socket")),
]
PARTS = [part for part, _ in _RULES] + ["other"]


def part_of(func: Func) -> str | None:
    filename, _line, name = func
    where = f"{filename}:{name}"
    for part, needles in _RULES:
        if any(needle in where for needle in needles):
            return part
    return None


def summarise(path: Path, events: int) -> dict[str, Any]:
    """Seconds and microseconds per ingest event for each part, largest first."""
    raw: dict[Func, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    seconds: Counter[str] = Counter()
    for func, (_cc, _calls, own, _cumulative, callers) in raw.items():
        part = part_of(func)
        if part is not None:
            seconds[part] += own
            continue
        # A helper: its time goes to its callers' parts, in proportion to the calls.
        total = sum(entry[1] for entry in callers.values()) if callers else 0
        if not total:
            seconds["other"] += own
            continue
        for caller, entry in callers.items():
            seconds[part_of(caller) or "other"] += own * entry[1] / total
    whole = sum(seconds.values()) or 1.0
    return {
        "events": events,
        "profiled_seconds": whole,
        "parts": [
            {
                "part": part,
                "seconds": round(spent, 3),
                "share": round(spent / whole, 4),
                "us_per_event": round(spent / max(events, 1) * 1e6, 1),
            }
            for part, spent in seconds.most_common()
        ],
    }
