"""The local stack: embedded Kafka, the topics, the pipeline worker and synthetic traffic.

``liaison demo`` runs it in the foreground, prints what flows through once a
second or so, and stops everything it started on Ctrl-C (or after
``--count`` events or ``--duration`` seconds), worker first, then the broker.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaError, Message

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_AUDIT, PIPELINE_OUTCOME
from liaison.errors import LiaisonError
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    group_is_stable,
    make_admin,
    producer_config,
)
from liaison.kafka.embedded import EmbeddedKafka, read_log_tail
from liaison.kafka.topics import AUDIT, DEAD_LETTER, PIPELINE_OUTCOMES, ensure_topics
from liaison.policy import DEFAULT_POLICY, RoutingPolicy, declared_topics, load_policy
from liaison.settings import Settings, env_name
from liaison.synthetic.generator import TrafficGenerator
from liaison.synthetic.output import LABEL_HEADER

__all__ = ["DemoOptions", "DemoReport", "run_demo"]

SENT_HEADER = "liaison-demo-sent-ns"


@dataclass(frozen=True)
class DemoOptions:
    rate: float = 50.0  # events per second offered
    count: int | None = None  # send this many, then stop once the pipeline is quiet
    duration_s: float | None = None
    report_every_s: float = 2.0
    seed: int = 7
    quiet_s: float = 5.0  # with count: how long without output means "done"


@dataclass
class DemoReport:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)  # per partner
    audits: int = 0
    hits: set[str] = field(default_factory=set)
    dead_letters: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # per outcome
    # The most recent latencies only, so a long run keeps a fixed footprint.
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    started: float = field(default_factory=time.monotonic)
    last_output: float = field(default_factory=time.monotonic)

    @property
    def received(self) -> int:
        return sum(self.deliveries.values()) + self.dead_letters + sum(self.dropped.values())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        latency = ""
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            p50 = statistics.median(ordered)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            latency = f"  latency p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        delivered = sum(self.deliveries.values())
        return (
            f"[{elapsed:6.1f}s] in {self.sent} ({self.sent / elapsed:.0f}/s, "
            f"{self.failed} failed)  out {delivered} deliveries ({delivered / elapsed:.0f}/s), "
            f"{sum(self.dropped.values())} dropped, {self.dead_letters} dead letters, "
            f"{len(self.hits)} hits{latency}"
        )

    def summary(self) -> list[str]:
        lines = [
            "Deliveries per partner: "
            + (
                ", ".join(f"{partner} {n}" for partner, n in sorted(self.deliveries.items()))
                or "none"
            )
        ]
        lines.append(f"Audit records: {self.audits} (one per delivery)")
        lines.append(
            "Dropped by the pipeline: "
            + (", ".join(f"{outcome} {n}" for outcome, n in self.dropped.most_common()) or "none")
        )
        lines.append(f"Watchlist hits: {len(self.hits)}; dead letters: {self.dead_letters}")
        return lines


def run_demo(
    settings: Settings, options: DemoOptions, out: Callable[[str], None] = print
) -> DemoReport:
    """Run the local stack until interrupted or done; return the final figures."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    data_dir = settings.state_dir / "demo"
    broker = EmbeddedKafka.from_settings(settings, data_dir=data_dir / "kafka")
    worker: subprocess.Popen[bytes] | None = None
    try:
        broker.stop()  # a broker left by an earlier demo that was killed hard
        # Every run starts from empty topics, so its figures are its own.
        shutil.rmtree(data_dir, ignore_errors=True)
        out("Starting Kafka (the first run fetches the broker jars with Maven)...")
        info = broker.start()
        out(
            f"Kafka {info.kafka_version} on {info.bootstrap_servers} (pid {info.pid}), "
            f"data in {data_dir}"
        )
        bootstrap = info.bootstrap_servers

        policy = load_policy(settings.routing_policy or DEFAULT_POLICY)
        created = ensure_topics(
            make_admin(settings, bootstrap),
            declared_topics(policy),
            prefix=settings.topic_prefix,
            replication_override=1,
        )
        out(f"{len(created)} topics ready ({len(policy.partners)} partner topics among them)")

        worker = _start_worker(bootstrap, data_dir / "worker.log")
        out(f"Pipeline worker started (pid {worker.pid}), log in {data_dir / 'worker.log'}")
        _wait_for_worker(
            settings=settings,
            bootstrap=bootstrap,
            worker=worker,
            log_path=data_dir / "worker.log",
            stop=stop,
        )
        out("Worker ready (partitions assigned).")
        out("Feeding synthetic traffic (Avro events); Ctrl-C stops everything.\n")
        return _pump(
            settings=settings,
            bootstrap=bootstrap,
            policy=policy,
            options=options,
            stop=stop,
            worker=worker,
            out=out,
        )
    finally:
        if worker is not None:
            out("Stopping the worker...")
            _stop_process(worker)
        out("Stopping Kafka...")
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        out("Stopped.")


def _start_worker(bootstrap: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, env_name("bootstrap_servers"): bootstrap}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "liaison", "worker"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches us; we stop it in order
        )


def _wait_for_worker(
    *,
    settings: Settings,
    bootstrap: str,
    worker: subprocess.Popen[bytes],
    log_path: Path,
    stop: threading.Event,
    timeout_s: float = 120.0,
) -> None:
    admin = make_admin(settings, bootstrap)
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        if worker.poll() is not None:
            raise LiaisonError(
                f"the worker exited with code {worker.returncode} during start-up:\n"
                + read_log_tail(log_path, 20)
            )
        if group_is_stable(admin, settings.pipeline_app_id):
            return
        if time.monotonic() > deadline:
            raise LiaisonError(f"the worker did not join its group within {timeout_s:.0f}s")
        stop.wait(0.5)


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _pump(
    *,
    settings: Settings,
    bootstrap: str,
    policy: RoutingPolicy,
    options: DemoOptions,
    stop: threading.Event,
    worker: subprocess.Popen[bytes],
    out: Callable[[str], None],
) -> DemoReport:
    report = DemoReport()
    traffic = TrafficGenerator(seed=options.seed)
    prefix = settings.topic_prefix
    observer = _Observer(prefix, policy, report)

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is None:
            report.delivered += 1
        else:
            report.failed += 1

    consumer = KafkaConsumer(
        consumer_config(settings, f"liaison-demo-monitor-{os.getpid()}", bootstrap),
        observer.topics,
    )
    deadline = time.monotonic() + options.duration_s if options.duration_s else None
    next_report = time.monotonic() + options.report_every_s
    interval = 1.0 / options.rate
    next_send = time.monotonic()
    with KafkaProducer(producer_config(settings, bootstrap)) as producer, consumer:
        while not stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            all_sent = options.count is not None and report.sent >= options.count
            if all_sent and now - report.last_output > options.quiet_s:
                break
            if worker.poll() is not None:
                out(f"The worker exited with code {worker.returncode}; see its log.")
                break
            while now >= next_send and not all_sent:
                record = traffic.next()
                producer.produce(
                    record.topic.full_name(prefix),
                    record.value,
                    key=record.key,
                    headers=[
                        (SENT_HEADER, str(time.time_ns()).encode()),
                        (LABEL_HEADER, record.label.value.encode()),
                    ],
                    on_delivery=delivered,
                )
                report.sent += 1
                report.last_output = now
                next_send += interval
                all_sent = options.count is not None and report.sent >= options.count
            producer.poll(0)
            for message in consumer.consume(500, timeout_s=0.05):
                observer(message)
                consumer.store(message)
            if now >= next_report:
                out(report.line())
                next_report = now + options.report_every_s
    out(report.line())
    out("Sent: " + ", ".join(f"{label} {n}" for label, n in traffic.counts.most_common()))
    for line in report.summary():
        out(line)
    return report


class _Observer:
    """Counts what comes out of the pipeline: deliveries, audits, dead letters, drops."""

    def __init__(self, prefix: str, policy: RoutingPolicy, report: DemoReport) -> None:
        self.report = report
        self.partners = {prefix + p.topic: p.id for p in policy.partners}
        self.audit_topic = AUDIT.full_name(prefix)
        self.dead_topic = DEAD_LETTER.full_name(prefix)
        self.outcome_topic = PIPELINE_OUTCOMES.full_name(prefix)
        self.audits, self.outcomes = AvroCodec(DELIVERY_AUDIT), AvroCodec(PIPELINE_OUTCOME)

    @property
    def topics(self) -> list[str]:
        return [*self.partners, self.audit_topic, self.dead_topic, self.outcome_topic]

    def __call__(self, message: Message) -> None:
        report = self.report
        topic = message.topic() or ""
        value = message.value() or b""
        report.last_output = time.monotonic()
        if topic in self.partners:
            report.deliveries[self.partners[topic]] += 1
            _record_latency(report, message)
        elif topic == self.audit_topic:
            report.audits += 1
            audit = self.audits.decode(value)
            if audit["source_system"] == "LIAISON":
                report.hits.add(str(audit["event_id"]))
        elif topic == self.dead_topic:
            report.dead_letters += 1
        elif topic == self.outcome_topic:
            report.dropped[self.outcomes.decode(value)["outcome"]] += 1


def _record_latency(report: DemoReport, message: Message) -> None:
    headers = message.headers() or []
    for key, value in headers.items() if isinstance(headers, dict) else headers:
        if key == SENT_HEADER and value is not None:
            report.latencies_ms.append((time.time_ns() - int(value)) / 1e6)
            return
