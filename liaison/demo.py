"""The local stack: embedded Kafka, the topics, the pipeline worker, every connector, and
synthetic traffic sent the way the national systems send it.

``liaison demo`` starts the broker, the worker, the three sources (CEN inbox, CIS+ and police
HTTP endpoints), the CEN outbox sink and an HTTP sink per partner endpoint of the policy,
with stand-ins for those partners' endpoints (:mod:`connectors.local`). It prints what flows
through every couple of seconds and each connector's figures at the end, and stops
everything it started on Ctrl-C (or after ``--count`` records or ``--duration`` seconds):
the worker and connectors first, then the partner stand-ins, then the broker.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Message

from connectors.local import NativeSender, PartnerIntake
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_AUDIT, EVENT, PIPELINE_OUTCOME
from liaison.errors import LiaisonError
from liaison.kafka.client import KafkaConsumer, consumer_config, group_is_stable, make_admin
from liaison.kafka.embedded import EmbeddedKafka, free_port, read_log_tail
from liaison.kafka.topics import AUDIT, DEAD_LETTER, PIPELINE_OUTCOMES, ensure_topics
from liaison.monitoring import LocalPrometheus, prometheus_binary
from liaison.policy import DEFAULT_POLICY, RoutingPolicy, declared_topics, load_policy
from liaison.settings import Settings, env_name
from liaison.synthetic.generator import TrafficGenerator
from liaison.timestamps import utc_now

__all__ = ["DemoOptions", "DemoReport", "run_demo"]


@dataclass(frozen=True)
class DemoOptions:
    rate: float = 25.0  # records per second offered
    count: int | None = None  # send this many, then stop once the pipeline is quiet
    duration_s: float | None = None
    report_every_s: float = 2.0
    seed: int = 7
    quiet_s: float = 5.0  # with count: how long without output means "done"
    stay: bool = False  # with count: once done, keep the stack running until Ctrl-C


@dataclass
class DemoReport:
    sent: int = 0
    failed: int = 0  # records the sources did not take (no answer, or a server error)
    deliveries: Counter[str] = field(default_factory=Counter)  # per partner
    audits: int = 0
    hits: set[str] = field(default_factory=set)
    dead_letters: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # per outcome
    # The most recent latencies only, so a long run keeps a fixed footprint.
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    started: float = field(default_factory=time.monotonic)
    last_output: float = field(default_factory=time.monotonic)
    connectors: list[str] = field(default_factory=list)  # each connector's figures

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
            latency = f"  ingest to partner topic p50 {p50:.0f} ms, p99 {p99:.0f} ms"
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
        if self.connectors:
            lines.append("Connectors:")
            lines.extend("  " + line for line in self.connectors)
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
    stack = _Stack(data_dir / "logs")
    intake: PartnerIntake | None = None
    prometheus: LocalPrometheus | None = None
    try:
        broker.stop()  # a broker left by an earlier demo that was killed hard
        # Every run starts from empty topics and folders, so its figures are its own.
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

        endpoints = sorted({p.endpoint for p in policy.partners if p.endpoint} - {CEN_OUTBOX})
        intake = PartnerIntake(
            {e: secrets.token_urlsafe(16) for e in endpoints}, data_dir / "partners"
        )
        intake.start()
        wiring = _Wiring.make(settings, bootstrap, data_dir, intake)
        out(f"Partner endpoints (stand-ins) on port {intake.port}: {', '.join(endpoints)}")

        worker = stack.start("worker", ["worker"], wiring.env)
        out(f"Pipeline worker started (pid {worker.pid})")
        for name in ("cen-source", "cisplus-source", "police-source", "cen-sink"):
            stack.start(name, ["connector", "run", name], wiring.env)
        for partner in policy.partners:
            if partner.endpoint and partner.endpoint != CEN_OUTBOX:
                stack.start(
                    f"http-sink-{partner.endpoint}",
                    ["connector", "run", "http-sink", "--partner", partner.id],
                    wiring.env,
                )
        out(
            "Connectors started: "
            + ", ".join(
                f"{name} (pid {p.pid})" for name, p in stack.processes.items() if name != "worker"
            )
        )
        lag = stack.start(
            "lag-exporter", ["lag-exporter"], {**wiring.env, env_name("lag_interval_s"): "2"}
        )
        out(f"Lag exporter started (pid {lag.pid})")
        out(f"Logs in {stack.log_dir}")
        prometheus = _start_prometheus(stack, data_dir / "prometheus", out)
        _wait_until_ready(settings, bootstrap, stack, wiring, stop)
        out("Worker and connectors ready.")
        out(
            f"Sending synthetic traffic as the national systems would: CEN exports into "
            f"{wiring.inbox}, CIS+ records to {wiring.urls['cisplus']}/v1/records, police "
            f"alerts to {wiring.urls['police']}/v1/alerts. Ctrl-C stops everything.\n"
        )
        return _pump(
            settings=settings,
            bootstrap=bootstrap,
            policy=policy,
            options=options,
            stop=stop,
            stack=stack,
            wiring=wiring,
            intake=intake,
            out=out,
        )
    finally:
        if prometheus is not None:
            prometheus.stop()
        if stack.processes:
            out("Stopping the worker and the connectors...")
            stack.stop_all()
        if intake is not None:
            intake.stop()
        out("Stopping Kafka...")
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        out("Stopped.")


CEN_OUTBOX = "cen-outbox"  # the CEN partner's endpoint: files, not HTTP


@dataclass(frozen=True)
class _Wiring:
    """Where each process finds the others: the settings every process of the stack gets."""

    env: dict[str, str]
    inbox: Path
    archive: Path
    outbox: Path
    urls: dict[str, str]  # the HTTP sources
    sender_tokens: dict[str, str]

    @classmethod
    def make(
        cls, settings: Settings, bootstrap: str, data_dir: Path, intake: PartnerIntake
    ) -> _Wiring:
        cen = data_dir / "cen"
        inbox, archive, outbox = cen / "inbox", cen / "archive", cen / "outbox"
        cisplus_port, police_port = free_port(2)
        host = settings.http_host
        tokens = {"cisplus": secrets.token_urlsafe(16), "police": secrets.token_urlsafe(16)}
        partners = ",".join(
            f"{endpoint}={intake.url(endpoint)}|{token}"
            for endpoint, token in intake.tokens.items()
        )
        env = {
            **os.environ,
            env_name("bootstrap_servers"): bootstrap,
            env_name("state_dir"): str(data_dir / "state"),
            env_name("cen_inbox"): str(inbox),
            env_name("cen_archive"): str(archive),
            env_name("cen_outbox"): str(outbox),
            env_name("cisplus_port"): str(cisplus_port),
            env_name("police_port"): str(police_port),
            env_name("http_tokens"): (
                f"cisplus:NL-CUSTOMS={tokens['cisplus']},police:NL-POLICE={tokens['police']}"
            ),
            env_name("partner_endpoints"): partners,
        }
        urls = {
            "cisplus": f"http://{host}:{cisplus_port}",
            "police": f"http://{host}:{police_port}",
        }
        return cls(env, inbox, archive, outbox, urls, tokens)


def _start_prometheus(
    stack: _Stack, directory: Path, out: Callable[[str], None]
) -> LocalPrometheus | None:
    """Prometheus scraping every process, if it is installed; None otherwise."""
    if prometheus_binary() is None:
        out(
            "Prometheus is not installed (Debian package prometheus); each process serves "
            "/metrics: " + ", ".join(f"{n} :{p}" for n, p in stack.metrics_ports.items())
        )
        return None
    jobs: dict[str, dict[str, int]] = {}
    for name, port in stack.metrics_ports.items():
        job = name if name in ("worker", "lag-exporter") else "connector"
        jobs.setdefault(f"liaison-{job}", {})[name] = port
    prometheus = LocalPrometheus(directory, jobs)
    prometheus.start()
    out(f"Prometheus on {prometheus.url} (scraping {len(stack.metrics_ports)} processes)")
    return prometheus


class _Stack:
    """The processes of the local stack, each with its log and metrics port; stopped
    together."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.metrics_ports: dict[str, int] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        (port,) = free_port()
        env = {**env, env_name("metrics_port"): str(port)}
        self.metrics_ports[name] = port
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "liaison", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
            )
        self.processes[name] = process
        return process

    def exited(self) -> str | None:
        """A line about the first process that has ended, if any."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return f"{name} exited with code {process.returncode}:\n" + read_log_tail(
                    self.log_dir / f"{name}.log", 20
                )
        return None

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to all at once (each finishes its work in hand), then wait for each."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_ready(  # noqa: PLR0917 - the stack's parts, each once
    settings: Settings,
    bootstrap: str,
    stack: _Stack,
    wiring: _Wiring,
    stop: threading.Event,
    timeout_s: float = 120.0,
) -> None:
    """The worker has its partitions and both HTTP sources answer."""
    admin = make_admin(settings, bootstrap)
    deadline = time.monotonic() + timeout_s
    waiting = {"worker", *wiring.urls, *stack.metrics_ports}
    while waiting and not stop.is_set():
        ended = stack.exited()
        if ended is not None:
            raise LiaisonError(f"during start-up, {ended}")
        if "worker" in waiting and group_is_stable(admin, settings.pipeline_app_id):
            waiting.discard("worker")
        for name, url in wiring.urls.items():
            if name in waiting and _answers(f"{url}/healthz"):
                waiting.discard(name)
        for name, port in stack.metrics_ports.items():
            if name in waiting and _answers(f"http://127.0.0.1:{port}/metrics"):
                waiting.discard(name)
        if time.monotonic() > deadline:
            raise LiaisonError(f"not ready within {timeout_s:.0f}s: {', '.join(sorted(waiting))}")
        stop.wait(0.5)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback URL we built
            return True
    except OSError:
        return False


def _pump(  # noqa: PLR0912, PLR0915 - one loop: send, observe, report
    *,
    settings: Settings,
    bootstrap: str,
    policy: RoutingPolicy,
    options: DemoOptions,
    stop: threading.Event,
    stack: _Stack,
    wiring: _Wiring,
    intake: PartnerIntake,
    out: Callable[[str], None],
) -> DemoReport:
    report = DemoReport()
    traffic = TrafficGenerator(seed=options.seed)
    observer = _Observer(settings.topic_prefix, policy, report)
    sender = NativeSender(inbox=wiring.inbox, urls=wiring.urls, tokens=wiring.sender_tokens)
    consumer = KafkaConsumer(
        consumer_config(settings, f"liaison-demo-monitor-{os.getpid()}", bootstrap),
        observer.topics,
    )
    deadline = time.monotonic() + options.duration_s if options.duration_s else None
    next_report = time.monotonic() + options.report_every_s
    interval = 1.0 / options.rate
    next_send = time.monotonic()
    holding = False
    with consumer:
        try:
            while not stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                all_sent = options.count is not None and report.sent >= options.count
                if all_sent and now - report.last_output > options.quiet_s:
                    if not options.stay:
                        break
                    if not holding:
                        holding = True
                        _announce_quiet(report, out)
                ended = stack.exited()
                if ended is not None:
                    out(f"The stack lost a process: {ended}")
                    break
                while now >= next_send and not all_sent:
                    if sender.send(traffic.next()):
                        report.sent += 1
                        report.last_output = now
                    next_send += interval
                    all_sent = options.count is not None and report.sent >= options.count
                if all_sent:
                    sender.flush()  # nothing more to come: drop the last export now
                sender.tick()
                for message in consumer.consume(500, timeout_s=0.05):
                    observer(message)
                    consumer.store(message)
                if now >= next_report:
                    report.failed = sender.figures.failed
                    out(report.line())
                    out(_connectors_line(sender, intake, wiring))
                    next_report = now + options.report_every_s
        finally:
            sender.close()
    report.failed = sender.figures.failed
    report.connectors = _connector_lines(sender, intake, wiring)
    out(report.line())
    out("Sent: " + ", ".join(f"{label} {n}" for label, n in traffic.counts.most_common()))
    for line in report.summary():
        out(line)
    return report


def _announce_quiet(report: DemoReport, out: Callable[[str], None]) -> None:
    out(report.line())
    out(
        f"All {report.sent} records sent and the pipeline is quiet; the stack keeps running "
        "until Ctrl-C."
    )


def _connectors_line(sender: NativeSender, intake: PartnerIntake, wiring: _Wiring) -> str:
    """The connectors at a glance, for the running report."""
    posts = sum(sum(answers.values()) for answers in sender.figures.answers.values())
    archived = len(list(wiring.archive.glob("*.result.json")))
    uploads = len(list(wiring.outbox.glob("*.manifest.json")))
    partners = ", ".join(f"{e} {f.kept}" for e, f in sorted(intake.figures.items()))
    return (
        f"           connectors: {sender.figures.files} CEN files dropped, {archived} archived; "
        f"{posts} HTTP records sent; {uploads} CEN upload files; at partner endpoints: {partners}"
    )


def _connector_lines(sender: NativeSender, intake: PartnerIntake, wiring: _Wiring) -> list[str]:
    """What each connector did, as seen from its external side."""
    figures = sender.figures
    results = [json.loads(p.read_text()) for p in sorted(wiring.archive.glob("*.result.json"))]
    xml = sum(1 for r in results if str(r["file"]).endswith(".xml"))
    lines = [
        f"cen-source      {figures.files} export files dropped, {len(results)} archived "
        f"({len(results) - xml} CSV, {xml} XML): "
        f"{sum(r['accepted'] for r in results)} rows accepted, "
        f"{sum(len(r['rejected']) for r in results)} rejected with line and reason"
    ]
    for system in ("cisplus", "police"):
        answers = figures.answers.get(system, Counter())
        line = f"{system + '-source':15} {sum(answers.values())} POSTs: " + (
            ", ".join(f"{status} x{n}" for status, n in sorted(answers.items())) or "none"
        )
        if system == "police" and figures.bulk:
            bulk = figures.bulk
            line += (
                f"; watchlist bulk import: {bulk['lines']} lines, {bulk['accepted']} accepted, "
                f"{bulk['rejected']} rejected"
            )
        lines.append(line)
    manifests = [json.loads(p.read_text()) for p in wiring.outbox.glob("*.manifest.json")]
    lines.append(
        f"cen-sink        {len(manifests)} upload files with manifests in {wiring.outbox}, "
        f"{sum(m['rows'] for m in manifests)} rows"
    )
    for endpoint, got in sorted(intake.figures.items()):
        latency = ""
        if got.latencies_ms:
            ordered = sorted(got.latencies_ms)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            latency = (
                f", ingest to partner p50 {statistics.median(ordered):.0f} ms, p99 {p99:.0f} ms"
            )
        lines.append(
            f"http-sink       {endpoint}: {got.kept} events received once each "
            f"({got.repeats} repeats answered, {got.refused} refused){latency}"
        )
    return lines


class _Observer:
    """Counts what comes out of the pipeline: deliveries, audits, dead letters, drops."""

    def __init__(self, prefix: str, policy: RoutingPolicy, report: DemoReport) -> None:
        self.report = report
        self.partners = {prefix + p.topic: p.id for p in policy.partners}
        self.audit_topic = AUDIT.full_name(prefix)
        self.dead_topic = DEAD_LETTER.full_name(prefix)
        self.outcome_topic = PIPELINE_OUTCOMES.full_name(prefix)
        self.audits, self.outcomes = AvroCodec(DELIVERY_AUDIT), AvroCodec(PIPELINE_OUTCOME)
        self.events = AvroCodec(EVENT)

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
            ingested = self.events.decode(value)["envelope"]["ingest_time"]
            report.latencies_ms.append((utc_now() - ingested).total_seconds() * 1000)
        elif topic == self.audit_topic:
            report.audits += 1
            audit = self.audits.decode(value)
            if audit["source_system"] == "LIAISON":
                report.hits.add(str(audit["event_id"]))
        elif topic == self.dead_topic:
            report.dead_letters += 1
        elif topic == self.outcome_topic:
            report.dropped[self.outcomes.decode(value)["outcome"]] += 1
