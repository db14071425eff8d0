"""The evolution check: current schemas must read what every released version wrote."""

from __future__ import annotations

from pathlib import Path

from liaison.avro.compat import backward_problems
from liaison.avro.store import RELEASED_DIR, SCHEMA_DIR, TOP_LEVEL, SchemaStore

__all__ = ["evolution_problems"]


def evolution_problems(
    current_dir: Path = SCHEMA_DIR, released_dir: Path = RELEASED_DIR
) -> list[str]:
    """Every way in which the current schemas break a released one; empty when none."""
    current = SchemaStore(current_dir=current_dir, released_dir=None)
    problems: list[str] = []
    for release in sorted(p for p in released_dir.iterdir() if p.is_dir()):
        # A top-level type added since the release has nothing to be compatible with.
        names = [n for n in TOP_LEVEL if (release / f"{n}.avsc").is_file()]
        old = SchemaStore(current_dir=release, released_dir=None, names=names)
        for name in names:
            found = backward_problems(old.current(name).schema, current.current(name).schema)
            problems.extend(f"against release {release.name}: {problem}" for problem in found)
    return problems
