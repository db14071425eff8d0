"""Starting the systems a benchmark run measures: the floor, Liaison's worker (one or two),
and the Quix Streams peer, each as processes of its own with its own topics."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from bench.options import BenchOptions, System
from liaison.errors import LiaisonError
from liaison.kafka.topics import (
    AUDIT,
    DEAD_LETTERS,
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
)
from liaison.settings import env_name

__all__ = ["FLOOR_OUT", "PEER_DIR", "PROFILE", "REPO", "Launcher"]

FLOOR_OUT = "bench.floor-out"
PROFILE = "liaison-worker.prof"
REPO = Path(__file__).resolve().parents[1]
PEER_DIR = REPO / "bench" / "quix"


class Launcher:
    """Starts each system's processes against one broker, under one data directory."""

    def __init__(
        self, options: BenchOptions, bootstrap: str, data_dir: Path, partner_topics: list[str]
    ) -> None:
        self.options, self.bootstrap, self.data_dir = options, bootstrap, data_dir
        self.partner_topics = partner_topics
        self.person_key = secrets.token_urlsafe(24)  # one per run: every system matches alike

    def systems(self, *, everything: bool = False) -> list[System]:
        ingest = [spec.name for spec in INGEST_TOPICS]
        internal = [PIPELINE_VERSIONED, PIPELINE_DEDUPED, PIPELINE_WATCH, PIPELINE_ENRICHED]
        first = [PIPELINE_VERSIONED.name, PIPELINE_OUTCOMES.name, DEAD_LETTERS.name]
        last = [*self.partner_topics, PIPELINE_OUTCOMES.name, DEAD_LETTERS.name, AUDIT.name]
        systems = [
            System(
                "floor",
                "bench-floor",
                ingest,
                [FLOOR_OUT],
                [FLOOR_OUT],
                self.start_floor,
                needs_group=False,
            ),
            System(
                "liaison-1-worker",
                "bench-liaison-1",
                ingest + [t.name for t in internal],
                first,
                last,
                lambda p, b, logs: self.start_workers(p, b, logs, "bench-liaison-1", 1),
            ),
            System(
                "liaison-2-workers",
                "bench-liaison-2",
                ingest + [t.name for t in internal],
                first,
                last,
                lambda p, b, logs: self.start_workers(p, b, logs, "bench-liaison-2", 2),
            ),
        ]
        if self.options.peer_python is not None:
            systems.append(
                System(
                    "quix-streams",
                    "bench-quix",
                    ingest + [t.name for t in internal],
                    first,
                    last,
                    self.start_peer,
                )
            )
        wanted = self.options.systems
        return [s for s in systems if everything or not wanted or s.name in wanted]

    def env(self, prefix: str, app_id: str) -> dict[str, str]:
        return {
            **os.environ,
            env_name("bootstrap_servers"): self.bootstrap,
            env_name("topic_prefix"): prefix,
            env_name("pipeline_app_id"): app_id,
            env_name("state_dir"): str(self.data_dir / "state" / prefix.rstrip(".")),
            env_name("log_level"): "WARNING",
            env_name("person_key"): self.person_key,
        }

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:
            return subprocess.Popen(  # noqa: S603 - this interpreter or the peer's, our flags
                args,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def start_floor(self, prefix: str, bootstrap: str, logs: Path) -> list[subprocess.Popen[bytes]]:
        topics = [spec.full_name(prefix) for spec in INGEST_TOPICS]
        args = [
            sys.executable,
            "-m",
            "bench.floor",
            "--bootstrap",
            bootstrap,
            "--group",
            "bench-floor",
            "--out-topic",
            prefix + FLOOR_OUT,
            *topics,
        ]
        return [
            self.spawn(
                args,
                {**self.env(prefix, "bench-floor"), "PYTHONPATH": str(REPO)},
                logs / "floor.log",
            )
        ]

    def start_workers(
        self, prefix: str, _bootstrap: str, logs: Path, app_id: str, count: int
    ) -> list[subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "liaison", "worker"]
        if prefix.startswith("bench-profile"):
            self.options.out_dir.mkdir(parents=True, exist_ok=True)
            profile = self.options.out_dir / PROFILE
            command[1:1] = ["-m", "cProfile", "-o", str(profile.resolve())]
        return [
            self.spawn(
                command,
                {
                    **self.env(prefix, app_id),
                    env_name("state_dir"): str(self.data_dir / "state" / f"{app_id}-{n}"),
                },
                logs / f"{app_id}-{n}.log",
            )
            for n in range(count)
        ]

    def start_peer(self, prefix: str, bootstrap: str, logs: Path) -> list[subprocess.Popen[bytes]]:
        python = self.options.peer_python
        if python is None:
            raise LiaisonError("no peer environment")
        args = [str(python), str(PEER_DIR / "app.py"), "--bootstrap", bootstrap]
        args += ["--prefix", prefix, "--group", "bench-quix"]
        args += ["--state-dir", str(self.data_dir / "state" / "quix")]
        env = {**self.env(prefix, "bench-quix"), "PYTHONPATH": str(REPO)}
        return [self.spawn(args, env, logs / "quix.log")]
