"""``python -m bench.recovery``: what a worker's restart costs against the size of its tables.

For each size it fills the versions table's changelog with that many keys (real entries,
spread over the table's partitions, as a worker that had decided that many records would
have left them), starts a worker on it as a crashed one would be restarted, and times it
from the start of its process until it answers ready (its tables recovered, its partitions
assigned). It prints the time, the keys recovered per second and the worker's resident
memory once ready, beside a start on empty tables (what any start costs).

On the embedded broker (plaintext: the benchmark measures the worker, not TLS), each size
with topics of its own; everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liaison.kafka.client import KafkaProducer, make_admin, producer_config
from liaison.kafka.embedded import EmbeddedKafka, connection_env, free_port, read_log_tail
from liaison.kafka.topics import STATE_VERSIONS, ensure_topics
from liaison.policy import declared_topics, policy_of
from liaison.settings import Settings, env_name, load_settings
from pipelines.dedupe.decide import RecordState
from pipelines.state import dump_record_state

_READY_LIMIT_S = 1800.0


def _fill(settings: Settings, keys: int) -> None:
    """``keys`` entries of the versions table, written to its changelog."""
    topic = STATE_VERSIONS.full_name(settings.topic_prefix)
    seen = datetime.now(UTC)
    config = {**producer_config(settings), "linger.ms": 50, "batch.size": 1_000_000}
    with KafkaProducer(config) as producer:
        for n in range(keys):
            value = dump_record_state(
                RecordState(
                    version=1 + n % 3,
                    event_id=str(uuid.UUID(int=n)),
                    seen_at=seen,
                    seen_versions=tuple(range(1, 2 + n % 3)),
                    owner=None,
                )
            )
            producer.produce(
                topic,
                value,
                key=f"CIS_PLUS:CIS-REC-{n:09d}".encode(),
                partition=n % STATE_VERSIONS.partitions,
            )
            if n % 10_000 == 0:
                producer.poll(0)
        producer.flush(300)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
            return True
    except OSError:
        return False


def _restart_cost(settings: Settings, directory: Path) -> dict[str, float]:
    """Start a worker on the filled tables; seconds until ready, and its memory then."""
    (port,) = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")},
        **{k: v for k, v in connection_env(settings).items() if v is not None},
        env_name("topic_prefix"): settings.topic_prefix,
        env_name("pipeline_app_id"): settings.pipeline_app_id,
        env_name("state_dir"): str(directory / "state"),
        env_name("person_key"): "benchmark person key, not a secret",
        env_name("metrics_port"): str(port),
    }
    log_path = directory / "worker.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "liaison", "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while not _ready(port):
            if worker.poll() is not None or time.monotonic() - started > _READY_LIMIT_S:
                raise RuntimeError("the worker did not get ready:\n" + read_log_tail(log_path, 30))
            time.sleep(0.1)
        return {"ready_s": time.monotonic() - started, "rss_mb": _rss_mb(worker.pid)}
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=30)


def run(sizes: list[int], out: Path | None) -> list[dict[str, Any]]:
    base = load_settings({})
    work = Path(tempfile.mkdtemp(prefix="liaison-recovery-"))
    broker = EmbeddedKafka(work / "kafka", base.cache_dir, heap_mb=1024, secure=False)
    rows: list[dict[str, Any]] = []
    try:
        broker.start()
        policy = policy_of(base)
        for keys in [0, *sizes]:
            tag = uuid.uuid4().hex[:8]
            settings = broker.client_settings(
                load_settings({}, topic_prefix=f"r{tag}.", pipeline_app_id=f"recovery-{tag}")
            )
            ensure_topics(
                make_admin(settings),
                declared_topics(policy),
                prefix=settings.topic_prefix,
                replication_override=1,
            )
            filled = time.monotonic()
            _fill(settings, keys)
            fill_s = time.monotonic() - filled
            directory = work / f"keys-{keys}"
            directory.mkdir()
            cost = _restart_cost(settings, directory)
            row = {"keys": keys, "fill_s": round(fill_s, 1), **cost}
            rows.append(row)
            base_s = rows[0]["ready_s"]
            rate = keys / max(cost["ready_s"] - base_s, 1e-3) if keys else 0.0
            print(
                f"{keys:>9,} keys: ready in {cost['ready_s']:6.1f} s "
                f"({cost['ready_s'] - base_s:+6.1f} s over an empty start, "
                f"{rate:,.0f} keys/s), {cost['rss_mb']:6.0f} MB resident",
                flush=True,
            )
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        document = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "runs": rows}
        out.write_text(json.dumps(document, indent=2) + "\n")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__)
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="table sizes in keys, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    run([int(s) for s in args.sizes.split(",") if s.strip()], args.json)


if __name__ == "__main__":
    main()
