"""The local stack: embedded Kafka, the topics, the pipeline worker, every connector, and
synthetic traffic sent the way the national systems send it.

``liaison demo`` starts the broker, the worker, the three sources (CEN inbox, CIS+ and police
HTTP endpoints), the CEN outbox sink and an HTTP sink per partner endpoint of the policy,
with stand-ins for those partners' endpoints (:mod:`stack.standins`). It prints what flows
through every couple of seconds and each connector's figures at the end, and stops
everything it started on Ctrl-C (or after ``--count`` records or ``--duration`` seconds):
the worker and connectors first, then the partner stand-ins, then the broker.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from liaison.errors import LiaisonError
from liaison.kafka.access import TLS
from liaison.kafka.client import KafkaConsumer, consumer_config, make_admin
from liaison.kafka.embedded import EmbeddedKafka, connection_env, free_port, read_log_tail
from liaison.kafka.topics import ensure_topics
from liaison.policy import RoutingPolicy, declared_topics, policy_of
from liaison.processes import Process, catalogue
from liaison.settings import Settings, env_name
from stack.monitoring import LocalPrometheus, prometheus_binary
from stack.report import DemoReport, Observer, connector_lines, connectors_line
from stack.standins import NativeSender, PartnerIntake
from stack.synthetic.generator import TrafficGenerator

__all__ = [
    "DemoOptions",
    "DemoReport",
    "Stack",
    "Wiring",
    "as_principal",
    "run_demo",
    "start_prometheus",
    "wait_until_ready",
]


@dataclass(frozen=True)
class DemoOptions:
    rate: float = 25.0  # records per second offered
    count: int | None = None  # send this many, then stop once the pipeline is quiet
    duration_s: float | None = None
    report_every_s: float = 2.0
    seed: int = 7
    quiet_s: float = 5.0  # with count: how long without output means "done"
    stay: bool = False  # with count: once done, keep the stack running until Ctrl-C


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
    stack = Stack(data_dir / "logs")
    intake: PartnerIntake | None = None
    prometheus: LocalPrometheus | None = None
    try:
        broker.stop()  # a broker left by an earlier demo that was killed hard
        # Every run starts from empty topics and folders, so its figures are its own.
        shutil.rmtree(data_dir, ignore_errors=True)
        out("Starting Kafka (the first run fetches the broker jars with Maven)...")
        policy = policy_of(settings)
        # The stack's own checks (topics, readiness, the monitor) run as the operator.
        settings = _start_kafka(broker, settings, policy, out)
        bootstrap = settings.bootstrap_servers
        created = ensure_topics(
            make_admin(settings, bootstrap),
            declared_topics(policy),
            prefix=settings.topic_prefix,
            replication_override=1,
        )
        out(f"{len(created)} topics ready ({len(policy.partners)} partner topics among them)")

        processes = catalogue(settings, policy)
        endpoints = sorted({p.endpoint for p in policy.partners if p.endpoint} - {CEN_OUTBOX})
        intake = PartnerIntake(
            {e: secrets.token_urlsafe(16) for e in endpoints}, data_dir / "partners"
        )
        intake.start()
        wiring = Wiring.make(settings, bootstrap, data_dir, intake, processes)
        out(f"Partner endpoints (stand-ins) on port {intake.port}: {', '.join(endpoints)}")

        for process in processes:
            env = as_principal(wiring.env, broker.client_settings(settings, process.principal))
            if process.part == "monitoring":
                env = {**env, env_name("lag_interval_s"): "2"}  # figures while you watch
            stack.start(process, env)
        started = stack.processes
        out(f"Pipeline worker started (pid {started['worker'].pid})")
        out(
            "Connectors started: "
            + ", ".join(
                f"{p.name} (pid {started[p.name].pid})" for p in processes if p.part == "connector"
            )
        )
        out(f"Lag exporter started (pid {started['lag-exporter'].pid})")
        out(f"Logs in {stack.log_dir}")
        prometheus = start_prometheus(stack, data_dir / "prometheus", out)
        wait_until_ready(stack, wiring, stop)
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
# Who the stand-ins send as, per HTTP source.
SENDERS = {"cisplus": "CISPLUS-GATEWAY", "police": "POLICE-GATEWAY"}  # bound in the policy


@dataclass(frozen=True)
class Wiring:
    """Where each process finds the others: the settings every process of the stack gets."""

    env: dict[str, str]
    inbox: Path
    archive: Path
    outbox: Path
    urls: dict[str, str]  # the HTTP sources
    sender_tokens: dict[str, str]

    @classmethod
    def make(
        cls,
        settings: Settings,
        bootstrap: str,
        data_dir: Path,
        intake: PartnerIntake,
        processes: list[Process],
    ) -> Wiring:
        """Every setting the catalogue's processes name: their shared directories under
        ``data_dir``, a free port each for the HTTP sources, the senders' tokens and the
        partner stand-ins' addresses."""
        directories = {d: data_dir / d.replace("_", "/") for p in processes for d in p.directories}
        served = [p.port_setting for p in processes if p.port_setting is not None]
        ports = dict(zip(served, free_port(len(served)), strict=True))
        systems = {setting: setting.removesuffix("_port") for setting in served}
        tokens = {system: secrets.token_urlsafe(32) for system in systems.values()}
        partners = ",".join(
            f"{endpoint}={intake.url(endpoint)}|{token}"
            for endpoint, token in intake.tokens.items()
        )
        env = {
            **os.environ,
            env_name("bootstrap_servers"): bootstrap,
            env_name("state_dir"): str(data_dir / "state"),
            **{env_name(setting): str(path) for setting, path in directories.items()},
            **{env_name(setting): str(port) for setting, port in ports.items()},
            env_name("http_tokens"): ",".join(
                f"{system}:{SENDERS.get(system, system.upper())}={token}"
                for system, token in tokens.items()
            ),
            env_name("partner_endpoints"): partners,
            # One run's stack, one run's key: its watch tables start empty every time.
            env_name("person_key"): secrets.token_urlsafe(24),
        }
        urls = {
            systems[setting]: f"http://{settings.http_host}:{port}"
            for setting, port in ports.items()
        }
        return cls(
            env,
            directories["cen_inbox"],
            directories["cen_archive"],
            directories["cen_outbox"],
            urls,
            tokens,
        )


def _start_kafka(
    broker: EmbeddedKafka, settings: Settings, policy: RoutingPolicy, out: Callable[[str], None]
) -> Settings:
    """Start the broker, create the access table's users and ACLs and say so; the admin's
    settings."""
    info = broker.start()
    out(
        f"Kafka {info.kafka_version} on {info.bootstrap_servers} (pid {info.pid}), "
        f"data in {broker.data_dir.parent}"
    )
    out(f"Listeners: {info.listeners}")
    users = broker.grant(settings, policy)
    partners = ", ".join(u.name for u in users if u.authentication == TLS)
    out(
        f"Principals: {len(users)} Kafka users from the access table: each process logs in "
        f"as its own (SCRAM), partners reading Kafka by certificate ({partners}); the "
        "stack's own checks as the admin"
    )
    return broker.client_settings(settings)


def as_principal(env: dict[str, str], principal: Settings) -> dict[str, str]:
    """``env`` with the connection settings of one Kafka user."""
    chosen = dict(env)
    for name, value in connection_env(principal).items():
        if value is None:
            chosen.pop(name, None)
        else:
            chosen[name] = value
    return chosen


def start_prometheus(
    stack: Stack, directory: Path, out: Callable[[str], None]
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
        jobs.setdefault(stack.jobs[name], {})[name] = port
    prometheus = LocalPrometheus(directory, jobs)
    prometheus.start()
    out(f"Prometheus on {prometheus.url} (scraping {len(stack.metrics_ports)} processes)")
    return prometheus


class Stack:
    """The processes of the local stack, each with its log and metrics port; stopped
    together."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.metrics_ports: dict[str, int] = {}
        self.jobs: dict[str, str] = {}  # process -> the Prometheus job it belongs to

    def start(
        self, process: Process, env: dict[str, str], name: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one instance of ``process`` (``name``: another instance's name; a process
        started again under its name keeps its metrics port)."""
        name, args = name or process.name, process.command
        self.jobs[name] = process.job
        port = self.metrics_ports.get(name) or self._new_port()
        env = {**env, env_name("metrics_port"): str(port)}
        self.metrics_ports[name] = port
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            running = subprocess.Popen(
                [sys.executable, "-m", "liaison", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
            )
        self.processes[name] = running
        return running

    def _new_port(self) -> int:
        """A free port no process of the stack was given: a process binds its port only
        once it has started, so a port just handed out may still look free."""
        while True:
            (port,) = free_port()
            if port not in self.metrics_ports.values():
                return port

    def ready(self, name: str) -> bool:
        """Whether the process runs and answers its readiness probe (on its metrics port)."""
        port = self.metrics_ports.get(name)
        process = self.processes.get(name)
        if port is None or process is None or process.poll() is not None:
            return False
        return _answers(f"http://127.0.0.1:{port}/readyz")

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


def wait_until_ready(
    stack: Stack, wiring: Wiring, stop: threading.Event, timeout_s: float = 120.0
) -> None:
    """The worker has its partitions and both HTTP sources answer.

    The worker's own probe says when it holds partitions, rather than the admin API's
    DescribeConsumerGroups: librdkafka (2.x, up to 2.16 at least) can abort the whole
    process when a coordinator request fails while a broker is away or a fresh cluster's
    coordinator is still loading (the assertion ``eonce->refcnt > 0`` in
    ``rd_kafka_enq_once_del_source_return``; librdkafka issue #4605, fix proposed in
    PR #5397)."""
    deadline = time.monotonic() + timeout_s
    waiting = {"worker", *wiring.urls, *stack.metrics_ports}
    while waiting and not stop.is_set():
        ended = stack.exited()
        if ended is not None:
            raise LiaisonError(f"during start-up, {ended}")
        if "worker" in waiting and stack.ready("worker"):
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
    stack: Stack,
    wiring: Wiring,
    intake: PartnerIntake,
    out: Callable[[str], None],
) -> DemoReport:
    report = DemoReport()
    traffic = TrafficGenerator(seed=options.seed)
    observer = Observer(settings.topic_prefix, policy, report)
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
                    out(connectors_line(sender, intake, wiring.archive, wiring.outbox))
                    next_report = now + options.report_every_s
        finally:
            sender.close()
    report.failed = sender.figures.failed
    report.connectors = connector_lines(sender, intake, wiring.archive, wiring.outbox)
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
