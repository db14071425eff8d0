"""The fault-injection suite (``liaison chaos``, ``make chaos``): the whole stack on a
three-node cluster under a steady generated load, faults at random moments from a seed,
then every accepted input accounted for.

The stack is the local stack's (:mod:`stack.demo`): the worker, every connector and the lag
exporter as their own processes, each as its own Kafka principal, partners' stand-in
endpoints, Prometheus with the alert rules when it is installed. The cluster is
:class:`~liaison.kafka.cluster.EmbeddedCluster`: replication 3, ``min.insync.replicas`` 2,
unclean election off. The faults (:data:`KINDS`):

- ``leader-kill``: SIGKILL of the node leading an ingest partition; restarted after a while.
- ``controller-kill``: SIGKILL of the active controller; restarted after a while.
- ``broker-hang``: SIGSTOP of a node for ``hang_s``, then SIGCONT.
- ``worker-kill`` and ``worker-term``: SIGKILL or SIGTERM of the worker; started again.
- ``scale``: a second and a third worker join under load, then leave (1 -> 3 -> 1).
- ``cen-source-kill``: SIGKILL of the CEN source just after an export lands.
- ``http-source-kill``: SIGKILL of an HTTP source while records are posted (the senders
  try again until it answers).
- ``partner-outage``: the partners' endpoints answer 503 for ``outage_s``, then hang for
  ``hang_s``, then recover.

After each fault the run waits (up to ``recover_s``) until the pipeline has recovered from
it before the next gap is drawn, so faults never pile up on a backlog and each one's
recovery and copies are its own. A process that ends on its own (a worker its watchdog
stopped, a crash) is started again after a few seconds, as Kubernetes would, and the report
lists it.

What a run reports (:class:`ChaosReport`, also as JSON):

- accepted: records the sources wrote to the ingest topics; lost: those with no delivery
  in any partner topic's lineage, no outcome and no dead letter (must be 0);
- delivered twice: partner-topic copies of one event beyond the first, each put down to
  the fault before it; the inputs delivered twice after a fault must not outnumber the most
  the worker's group left uncommitted from that fault to the next (sampled every 2 s: what
  a crash or rebalance then can have it do again); and whether every copy kept its event
  id and audit id;
- unread partitions: partitions of the worker's group whose committed offset stood still
  for more than 60 s while records waited past it (must be 0);
- recovery after each fault: from the fault until an input sent after it came out at a
  partner (p50 and max per kind);
- the lag alerts' states as Prometheus saw them during the run.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, DELIVERY_AUDIT, EVENT, PIPELINE_OUTCOME
from liaison.errors import LiaisonError
from liaison.kafka.client import (
    KafkaConsumer,
    consumer_config,
    make_admin,
    read_to_end,
)
from liaison.kafka.cluster import EmbeddedCluster
from liaison.kafka.topics import (
    AUDIT,
    DEAD_LETTERS,
    INGEST_TOPICS,
    PIPELINE_OUTCOMES,
    ensure_topics,
)
from liaison.policy import declared_topics, policy_of
from liaison.processes import Process, catalogue
from liaison.settings import Settings
from stack.demo import Stack, Wiring, as_principal, start_prometheus, wait_until_ready
from stack.monitoring import LocalPrometheus
from stack.standins import NativeSender, PartnerIntake
from stack.synthetic.generator import TrafficGenerator

__all__ = ["KINDS", "ChaosOptions", "ChaosReport", "run_chaos"]

log = logging.getLogger(__name__)

KINDS = (
    "leader-kill",
    "controller-kill",
    "broker-hang",
    "worker-kill",
    "worker-term",
    "scale",
    "cen-source-kill",
    "http-source-kill",
    "partner-outage",
)
UNREAD_LIMIT_S = 60.0  # a partition whose commits stand still this long with work waiting
LAG_ALERTS = ("LiaisonConsumerLagGrowing", "LiaisonConsumerLagHigh")


@dataclass(frozen=True)
class ChaosOptions:
    faults: int = 30
    seed: int = 1
    rate: float = 20.0  # records offered per second
    kinds: tuple[str, ...] = KINDS
    gap_s: tuple[float, float] = (8.0, 20.0)  # the pause before each fault, drawn
    down_s: float = 5.0  # how long a killed process or node stays down
    hang_s: float = 20.0  # SIGSTOP of a node; a hanging partner
    outage_s: float = 30.0  # partners answering 503
    scale_hold_s: float = 20.0  # three workers under load, before two leave
    # After each fault, the longest wait for the pipeline to recover before the next gap:
    # an input sent after the fault delivered, and no more left uncommitted than at the
    # fault (or a minute of load). Faults then never pile up on a backlog, and each one's
    # recovery and copies are its own.
    recover_s: float = 180.0
    settle_s: float = 600.0  # after the last fault: the longest wait for every input
    heap_mb: int = 384  # each node's

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(unknown)}")
        if not self.kinds or self.faults < 1:
            raise ValueError("a run needs at least one fault of one kind")


@dataclass
class Fault:
    kind: str
    target: str
    at: float  # wall time the fault began (seconds since the epoch)
    ended: float = 0.0  # wall time it was over (the process or node back, the partner well)
    uncommitted: int = 0  # records the worker's group had not committed when it began
    # The most it left uncommitted from its start to the next fault's (sampled every 2 s):
    # what a crash or rebalance in that time can have the worker do again.
    in_flight: int = 0
    recovered_s: float | None = None  # fault start to the first output of a later input
    duplicated_inputs: int = 0  # inputs with a partner copy beyond the first, after it
    extra_copies: int = 0


@dataclass(frozen=True)
class Restart:
    process: str
    exit_code: int
    at_s: float  # seconds into the run when it was started again


@dataclass
class ChaosReport:
    seed: int
    faults: list[Fault] = field(default_factory=list)
    accepted: int = 0
    delivered: int = 0  # inputs delivered to at least one partner
    dropped: int = 0  # inputs dropped with an outcome (replay, stale, no recipient...)
    dead_lettered: int = 0
    lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    deliveries: int = 0  # partner-topic records
    extra_copies: int = 0  # beyond the first, per event and partner
    audit_records: int = 0
    extra_audits: int = 0  # audit records beyond the first, per audit id
    copies_change_ids: int = 0  # deliveries whose copies disagree on the audit id (must be 0)
    intake_repeats: int = 0  # HTTP deliveries answered "already received"
    unread_partitions: list[str] = field(default_factory=list)
    longest_still_s: float = 0.0  # the longest a partition's commit stood still with work
    lag_alerts: dict[str, str] = field(default_factory=dict)  # alert -> worst state seen
    sender_retries: int = 0
    # Processes that ended on their own and were started again, as Kubernetes would (a
    # worker its watchdog stopped, a crash).
    restarts: list[Restart] = field(default_factory=list)
    # Dead letters of the sinks, by error class: a partner refused the event, or the sink
    # gave up after its attempts (DeliveryFailed: the event waits there to be re-driven).
    sink_dead_letters: Counter[str] = field(default_factory=Counter)
    duration_s: float = 0.0
    # Stopped early (SIGINT, SIGTERM): the pipeline was not drained, so what it had not
    # finished counts as lost; the figures are not a run's.
    interrupted: bool = False

    def kinds(self) -> Counter[str]:
        return Counter(f.kind for f in self.faults)

    @property
    def over_bound(self) -> list[Fault]:
        """Faults after which more inputs were delivered twice than were left uncommitted
        while each was the last."""
        return [
            f for f in self.faults if 0 <= max(f.uncommitted, f.in_flight) < f.duplicated_inputs
        ]

    def recovery(self) -> dict[str, dict[str, float | int]]:
        """Per kind: faults, recovery p50 and max, unrecovered."""
        kinds: dict[str, list[Fault]] = defaultdict(list)
        for fault in self.faults:
            kinds[fault.kind].append(fault)
        figures: dict[str, dict[str, float | int]] = {}
        for kind, faults in sorted(kinds.items()):
            times = [f.recovered_s for f in faults if f.recovered_s is not None]
            figures[kind] = {
                "faults": len(faults),
                "recovery_p50_s": round(statistics.median(times), 1) if times else -1.0,
                "recovery_max_s": round(max(times), 1) if times else -1.0,
                "unrecovered": len(faults) - len(times),
                "duplicated_inputs": sum(f.duplicated_inputs for f in faults),
                "uncommitted_at_faults": sum(f.uncommitted for f in faults),
                "bound": sum(max(f.uncommitted, f.in_flight) for f in faults),
            }
        return figures

    def ok(self) -> bool:
        return (
            not self.interrupted
            and self.lost == 0
            and not self.unread_partitions
            and not self.over_bound
            and self.copies_change_ids == 0
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "duration_s": round(self.duration_s),
            "faults": len(self.faults),
            "faults_by_kind": dict(self.kinds()),
            "accepted": self.accepted,
            "delivered": self.delivered,
            "dropped_with_outcome": self.dropped,
            "dead_lettered": self.dead_lettered,
            "lost": self.lost,
            "deliveries": self.deliveries,
            "extra_copies": self.extra_copies,
            "audit_records": self.audit_records,
            "extra_audit_records": self.extra_audits,
            "copies_with_another_audit_id": self.copies_change_ids,
            "http_repeats_answered": self.intake_repeats,
            "sink_dead_letters": dict(self.sink_dead_letters),
            "unread_partitions": self.unread_partitions,
            "longest_commit_standstill_s": round(self.longest_still_s, 1),
            "duplicates_over_bound": len(self.over_bound),
            "recovery_by_kind": self.recovery(),
            "lag_alerts": self.lag_alerts,
            "sender_retries": self.sender_retries,
            "restarts": [asdict(r) for r in self.restarts],
            "fault_log": [asdict(f) for f in self.faults],
        }

    def lines(self) -> list[str]:
        out = []
        if self.interrupted:
            out.append("Interrupted: the pipeline was not drained; these are not a run's figures")
        out += [
            f"{len(self.faults)} faults in {self.duration_s:.0f} s (seed {self.seed}): "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds().items())),
            f"Inputs accepted: {self.accepted}; delivered {self.delivered}, dropped with an "
            f"outcome {self.dropped}, dead-lettered {self.dead_lettered}; lost: {self.lost}",
            f"Deliveries: {self.deliveries} partner-topic records, {self.extra_copies} extra "
            f"copies (every copy keeps its event id; audit id changed: "
            f"{self.copies_change_ids}); audit {self.audit_records} records, "
            f"{self.extra_audits} repeated (one audit id each, counted once by the trail); "
            f"HTTP partners answered {self.intake_repeats} repeats 'already received'",
            "Sinks' dead letters: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.sink_dead_letters.items())) or "none"),
            f"Partitions left unread over {UNREAD_LIMIT_S:.0f} s: "
            f"{len(self.unread_partitions)}; longest commit standstill with work waiting: "
            f"{self.longest_still_s:.0f} s",
        ]
        for kind, figures in self.recovery().items():
            out.append(
                f"  {kind:<17} {figures['faults']:>2} faults, recovery p50 "
                f"{figures['recovery_p50_s']} s, max {figures['recovery_max_s']} s, "
                f"unrecovered {figures['unrecovered']}; inputs delivered twice "
                f"{figures['duplicated_inputs']} (bound: {figures['bound']}, the most "
                "left uncommitted during each)"
            )
        if self.over_bound:
            out.append(f"Over the bound after: {', '.join(f.kind for f in self.over_bound)}")
        out.append(
            "Processes that ended on their own and were started again: "
            + (
                ", ".join(
                    f"{r.process} (exit code {r.exit_code}, at {r.at_s:.0f} s)"
                    for r in self.restarts
                )
                or "none"
            )
        )
        alerts = ", ".join(f"{a} {s}" for a, s in sorted(self.lag_alerts.items())) or "not seen"
        out.append(f"Lag alerts (worst state during the run): {alerts}")
        if self.lost_examples:
            out.append("Lost, for example: " + ", ".join(self.lost_examples))
        return out


class _Signals:
    """Until closed, SIGINT and SIGTERM stop the run and mark it interrupted (the run sets
    ``stop`` itself too, at its end)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop, self.interrupted = stop, threading.Event()
        self._previous = {
            sig: signal.signal(sig, self._on) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _on(self, *_: object) -> None:
        self.interrupted.set()
        self.stop.set()

    def close(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_chaos(
    settings: Settings, options: ChaosOptions, out: Callable[[str], None] = print
) -> ChaosReport:
    """Run the suite and return its report; everything started is stopped at the end."""
    started = time.time()
    stop = threading.Event()
    signals = _Signals(stop)
    data_dir = settings.state_dir / "chaos"
    cluster = EmbeddedCluster(data_dir / "kafka", settings.cache_dir, heap_mb=options.heap_mb)
    if cluster.layout_file.is_file():
        cluster.stop()  # a cluster left by a run that was killed hard
    # Every run starts from an empty cluster, so its figures are its own.
    shutil.rmtree(data_dir, ignore_errors=True)
    cluster = EmbeddedCluster(data_dir / "kafka", settings.cache_dir, heap_mb=options.heap_mb)
    stack = Stack(data_dir / "logs")
    intake: PartnerIntake | None = None
    prometheus: LocalPrometheus | None = None
    try:
        out(f"Starting a {cluster.size}-node Kafka cluster...")
        cluster.start()
        policy = policy_of(settings)
        cluster.grant(settings, policy)
        admin_settings = cluster.client_settings(settings)
        bootstrap = admin_settings.bootstrap_servers
        ensure_topics(
            make_admin(admin_settings, bootstrap),
            declared_topics(policy),
            prefix=settings.topic_prefix,
        )
        out(f"Cluster on {bootstrap}; topics at replication 3, min.insync.replicas 2")
        processes = catalogue(settings, policy)
        endpoints = sorted({p.endpoint for p in policy.partners if p.endpoint} - {"cen-outbox"})
        intake = PartnerIntake(
            {e: secrets.token_urlsafe(16) for e in endpoints}, data_dir / "partners"
        )
        intake.start()
        wiring = Wiring.make(admin_settings, bootstrap, data_dir, intake, processes)
        envs = {
            p.name: as_principal(wiring.env, cluster.client_settings(settings, p.principal))
            for p in processes
        }
        by_name = {p.name: p for p in processes}
        for process in processes:
            stack.start(process, envs[process.name])
        prometheus = start_prometheus(stack, data_dir / "prometheus", out)
        wait_until_ready(stack, wiring, stop)
        out("Stack ready; load and faults begin.")
        run = _Run(
            settings=admin_settings,
            options=options,
            cluster=cluster,
            stack=stack,
            by_name=by_name,
            envs=envs,
            wiring=wiring,
            intake=intake,
            prometheus=prometheus,
            stop=stop,
            out=out,
        )
        report = run.execute()
        report.duration_s = time.time() - started
        report.interrupted = signals.interrupted.is_set()
        for line in report.lines():
            out(line)
        return report
    finally:
        if prometheus is not None:
            prometheus.stop()
        if stack.processes:
            out("Stopping the stack...")
            stack.stop_all()
        if intake is not None:
            intake.stop()
        out("Stopping the cluster...")
        cluster.stop()
        signals.close()


@dataclass
class _Run:
    settings: Settings  # the admin's, on the whole cluster
    options: ChaosOptions
    cluster: EmbeddedCluster
    stack: Stack
    by_name: dict[str, Process]
    envs: dict[str, dict[str, str]]
    wiring: Wiring
    intake: PartnerIntake
    prometheus: LocalPrometheus | None
    stop: threading.Event
    out: Callable[[str], None]
    report: ChaosReport = field(init=False)
    _load_stop: threading.Event = field(default_factory=threading.Event)
    _outputs: list[tuple[float, float]] = field(default_factory=list)  # (seen, ingested)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _watcher: _CommitWatcher = field(init=False)
    _supervisor: _Supervisor = field(init=False)

    def _spec_of(self, name: str) -> tuple[Process, dict[str, str]]:
        base = "worker" if name.startswith("worker") else name  # worker-2, worker-3
        return self.by_name[base], self.envs[base]

    def execute(self) -> ChaosReport:
        options = self.options
        self.report = ChaosReport(seed=options.seed)
        rng = random.Random(options.seed)  # noqa: S311 - a seed that replays a run, no secret
        sender = NativeSender(
            inbox=self.wiring.inbox,
            urls=self.wiring.urls,
            tokens=self.wiring.sender_tokens,
            retry_s=120.0,
        )
        watcher = self._watcher = _CommitWatcher(
            self.settings, self.settings.pipeline_app_id, self.by_name
        )
        supervisor = self._supervisor = _Supervisor(
            self.stack, self._spec_of, started=time.time(), out=self.out
        )
        threads = [
            threading.Thread(target=self._load, args=(sender, options.seed), daemon=True),
            threading.Thread(target=self._observe, daemon=True),
            threading.Thread(target=watcher.run, args=(self.stop,), daemon=True),
            threading.Thread(target=supervisor.run, args=(self.stop,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        alerts = threading.Thread(target=self._watch_alerts, daemon=True)
        alerts.start()
        try:
            for number, kind in enumerate(_schedule(options, rng), start=1):
                if self.stop.wait(rng.uniform(*options.gap_s)):
                    break
                uncommitted = watcher.uncommitted()  # takes a moment: before the clock starts
                fault = Fault(kind, "", time.time(), uncommitted=uncommitted)
                self.report.faults.append(fault)
                getattr(self, "_" + kind.replace("-", "_"))(fault, rng)
                fault.ended = time.time()
                self.out(
                    f"fault {number}/{options.faults}: {kind} ({fault.target}), over in "
                    f"{fault.ended - fault.at:.0f} s; {fault.uncommitted} uncommitted at it"
                )
                self._wait_recovered(fault)
            self.out("Faults done; the load stops and the pipeline drains.")
            self._load_stop.set()
            sender.close()
            self.report.sender_retries = sum(sender.figures.retries.values())
            self._settle()
        finally:
            self._load_stop.set()
            self.stop.set()
            sender.abandon()
            for thread in [*threads, alerts]:
                thread.join(timeout=30)
        self.report.restarts = list(supervisor.restarts)
        self.report.unread_partitions = watcher.unread()
        self.report.longest_still_s = watcher.longest_still_s
        _bound_faults(self.report.faults, watcher.samples)
        self._recoveries()
        _account(self.settings, self.report)
        self.report.intake_repeats = sum(f.repeats for f in self.intake.figures.values())
        return self.report

    # -- load and observation -------------------------------------------------

    def _load(self, sender: NativeSender, seed: int) -> None:
        traffic = TrafficGenerator(seed=seed)
        interval = 1.0 / self.options.rate
        next_send = time.monotonic()
        while not self._load_stop.is_set():
            now = time.monotonic()
            while now >= next_send:
                sender.send(traffic.next())
                next_send += interval
            sender.tick()
            self._load_stop.wait(min(0.05, max(0.0, next_send - time.monotonic())))

    def _observe(self) -> None:
        """When each partner-topic record was seen, and when its input was ingested."""
        prefix = self.settings.topic_prefix
        topics = [prefix + p.topic for p in policy_of(self.settings).partners]
        events = AvroCodec(EVENT)
        group = f"liaison-chaos-observer-{os.getpid()}"
        config = {**consumer_config(self.settings, group), "auto.offset.reset": "latest"}
        with KafkaConsumer(config, topics) as consumer:
            while not self.stop.is_set():
                for message in consumer.consume(500, timeout_s=0.5):
                    envelope = events.decode(message.value() or b"")["envelope"]
                    ingested = envelope["ingest_time"].timestamp()
                    with self._lock:
                        self._outputs.append((time.time(), ingested))

    def _recoveries(self) -> None:
        """Each fault's recovery: from its start until the first partner-topic record of an
        input ingested after it; a partner outage's, from its end until the partners'
        endpoints keep such an input."""
        with self._lock:
            outputs = sorted(self._outputs)
        received = sorted(self.intake.received)
        for fault in self.report.faults:
            if fault.kind == "partner-outage":
                since, seen_at = fault.ended, received
            else:
                since, seen_at = fault.at, outputs
            later = next((seen for seen, ingested in seen_at if ingested >= fault.at), None)
            fault.recovered_s = None if later is None else round(max(0.0, later - since), 1)

    def _watch_alerts(self) -> None:
        """The lag alerts' worst state, as Prometheus evaluates the rules."""
        if self.prometheus is None:
            self.report.lag_alerts = {a: "not measured (no Prometheus)" for a in LAG_ALERTS}
            return
        rank = {"inactive": 0, "pending": 1, "firing": 2}
        worst = dict.fromkeys(LAG_ALERTS, "inactive")
        while not self.stop.wait(5.0):
            try:
                found = self.prometheus.query("ALERTS")
            except (OSError, LiaisonError):
                continue
            for series in found:
                name = series["metric"].get("alertname", "")
                state = series["metric"].get("alertstate", "inactive")
                if name in worst and rank[state] > rank[worst[name]]:
                    worst[name] = state
            self.report.lag_alerts = dict(worst)
        self.report.lag_alerts = dict(worst)

    def _settle(self) -> None:
        """Wait until the worker's group has committed everything, or the settle time ends."""
        deadline = time.monotonic() + self.options.settle_s
        quiet = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            waiting = self._watcher.uncommitted()
            quiet = quiet + 1 if waiting == 0 and self.stack.ready("worker") else 0
            if quiet >= 3:
                # The sinks deliver what the worker wrote: a few seconds more for them.
                time.sleep(10)
                return
            time.sleep(2)
        self.out("The pipeline did not drain within the settle time; accounting as it stands.")

    def _wait_recovered(self, fault: Fault) -> None:
        """Until an input sent after ``fault`` reached a partner and the backlog is back to
        what it was at the fault (or a minute of load), for at most ``recover_s``."""
        limit = max(fault.uncommitted, int(self.options.rate * 60))
        deadline = time.monotonic() + self.options.recover_s
        while not self.stop.is_set():
            if self._delivered_since(fault) and self._watcher.uncommitted() <= limit:
                return
            if time.monotonic() > deadline:
                self.out(
                    f"  not recovered within {self.options.recover_s:.0f} s; the next fault "
                    "comes anyway"
                )
                return
            self.stop.wait(2.0)

    def _delivered_since(self, fault: Fault) -> bool:
        if fault.kind == "partner-outage":
            return any(ingested >= fault.at for _, ingested in list(self.intake.received))
        with self._lock:
            return any(ingested >= fault.at for _, ingested in self._outputs)

    # -- the faults -----------------------------------------------------------

    def _leader_kill(self, fault: Fault, rng: random.Random) -> None:
        spec = rng.choice(INGEST_TOPICS)
        topic = spec.full_name(self.settings.topic_prefix)
        partition = rng.randrange(spec.partitions)
        node = self.cluster.leader_of(topic, partition)
        fault.target = f"node {node}, leader of {topic}[{partition}]"
        self._kill_node(node)

    def _controller_kill(self, fault: Fault, rng: random.Random) -> None:
        node = self.cluster.active_controller()
        fault.target = f"node {node}, the active controller"
        self._kill_node(node)

    def _kill_node(self, node: int) -> None:
        self.cluster.kill(node)
        time.sleep(self.options.down_s)
        self.cluster.restart(node)

    def _broker_hang(self, fault: Fault, rng: random.Random) -> None:
        node = rng.choice(sorted(self.cluster.running()))
        fault.target = f"node {node} stopped for {self.options.hang_s:.0f} s"
        self.cluster.pause(node)
        try:
            time.sleep(self.options.hang_s)
        finally:
            self.cluster.resume(node)

    def _worker_kill(self, fault: Fault, rng: random.Random) -> None:
        fault.target = "worker, SIGKILL"
        self._restart("worker", signal.SIGKILL)

    def _worker_term(self, fault: Fault, rng: random.Random) -> None:
        fault.target = "worker, SIGTERM"
        self._restart("worker", signal.SIGTERM)

    def _cen_source_kill(self, fault: Fault, rng: random.Random) -> None:
        landed = any(self.wiring.inbox.iterdir())
        fault.target = "cen-source" + (" with an export in the inbox" if landed else "")
        self._restart("cen-source", signal.SIGKILL)

    def _http_source_kill(self, fault: Fault, rng: random.Random) -> None:
        name = rng.choice(["cisplus-source", "police-source"])
        fault.target = f"{name}, SIGKILL"
        self._restart(name, signal.SIGKILL)

    def _partner_outage(self, fault: Fault, rng: random.Random) -> None:
        fault.target = (
            f"partners answer 503 for {self.options.outage_s:.0f} s, then hang "
            f"{self.options.hang_s:.0f} s"
        )
        self.intake.fault = "unavailable"
        try:
            time.sleep(self.options.outage_s)
            self.intake.fault = "hang"
            time.sleep(self.options.hang_s)
        finally:
            self.intake.fault = ""

    def _scale(self, fault: Fault, rng: random.Random) -> None:
        fault.target = "workers 1 -> 3 -> 1"
        workers = ["worker", "worker-2", "worker-3"]
        with self._supervisor.lock:
            for name in workers[1:]:
                self.stack.start(self.by_name["worker"], self.envs["worker"], name=name)
        # Each worker's probe says it holds partitions and is not rebalancing (the admin
        # API's group calls can abort this process mid-fault: see stack.demo).
        _wait(lambda: all(map(self.stack.ready, workers)), 180, "three workers with partitions")
        time.sleep(self.options.scale_hold_s)
        for name in reversed(workers[1:]):
            self._end(name, signal.SIGTERM)
        _wait(lambda: self.stack.ready("worker"), 180, "the one worker with every partition")

    def _restart(self, name: str, sig: signal.Signals) -> None:
        self._end(name, sig)
        time.sleep(self.options.down_s)
        with self._supervisor.lock:
            self.stack.start(self.by_name[name], self.envs[name])

    def _end(self, name: str, sig: signal.Signals) -> None:
        with self._supervisor.lock:
            process = self.stack.processes.pop(name)
        if process.poll() is not None:  # ended on its own just now
            self._supervisor.ended(name, process.returncode)
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            raise LiaisonError(f"{name} did not stop within 90 s of {sig.name}") from None


class _Supervisor:
    """The part Kubernetes plays in a deployment: a process of the stack that ended on its
    own (a worker its watchdog stopped, a crash) is started again after ``pause_s``, and
    the restart goes on the report. A process a fault stops is taken out of the stack
    under :attr:`lock` first, so it is never mistaken for one that ended on its own."""

    def __init__(
        self,
        stack: Stack,
        spec_of: Callable[[str], tuple[Process, dict[str, str]]],
        started: float,
        out: Callable[[str], None],
        pause_s: float = 5.0,
    ) -> None:
        self.stack = stack
        self.spec_of = spec_of
        self.started = started
        self.out = out
        self.pause_s = pause_s
        self.lock = threading.RLock()
        self.restarts: list[Restart] = []
        self._ended: dict[str, float] = {}  # name -> when it was first seen ended (monotonic)

    def check(self, now: float) -> None:
        with self.lock:
            for name, process in list(self.stack.processes.items()):
                code = process.poll()
                if code is None:
                    self._ended.pop(name, None)
                    continue
                if now - self._ended.setdefault(name, now) < self.pause_s:
                    continue
                del self._ended[name]
                spec, env = self.spec_of(name)
                self.stack.start(spec, env, name=name)
                restart = Restart(name, code, round(time.time() - self.started, 1))
                self.restarts.append(restart)
                self.out(f"{name} ended on its own (exit code {code}); started again")

    def ended(self, name: str, code: int) -> None:
        """``name`` ended on its own before a fault could stop it; the fault starts it."""
        with self.lock:
            self._ended.pop(name, None)
            self.restarts.append(Restart(name, code, round(time.time() - self.started, 1)))

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self.check(time.monotonic())


def _schedule(options: ChaosOptions, rng: random.Random) -> list[str]:
    """``faults`` kinds, each kind as often as the others (within one), in a random order."""
    kinds = list(options.kinds)
    rounds = [rng.sample(kinds, len(kinds)) for _ in range(-(-options.faults // len(kinds)))]
    return [kind for one in rounds for kind in one][: options.faults]


def _wait(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise LiaisonError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(1)


class _CommitWatcher:
    """The worker group's committed offsets against the end of each partition it reads:
    what is uncommitted, and which partition's commit stands still with work waiting."""

    def __init__(self, settings: Settings, group: str, by_name: dict[str, Process]) -> None:
        self.settings, self.group = settings, group
        self.topics = list(by_name["worker"].consumes)
        config = {**consumer_config(settings, group), "enable.auto.commit": False}
        self._consumer = Consumer(config)  # never subscribed: asks, never joins
        self._lock = threading.Lock()
        # partition -> (committed offset, since when it has stood there with work waiting)
        self._still: dict[tuple[str, int], tuple[int, float]] = {}
        self.longest_still_s = 0.0
        self._unread: set[str] = set()
        self.samples: list[tuple[float, int]] = []  # (wall time, records uncommitted)

    def _positions(self) -> list[tuple[tuple[str, int], int, int]]:
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            metadata = self._consumer.list_topics(topic, timeout=10).topics[topic]
            partitions.extend(TopicPartition(topic, p) for p in metadata.partitions)
        committed = self._consumer.committed(partitions, timeout=10)
        found = []
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=10
            )
            offset = tp.offset if tp.offset >= 0 else low
            found.append(((tp.topic, tp.partition), max(offset, low), high))
        return found

    def uncommitted(self) -> int:
        """Records past the group's commits, summed over what it reads (-1: unknown)."""
        for _ in range(3):
            with self._lock:
                try:
                    return sum(high - committed for _, committed, high in self._positions())
                except Exception:  # a cluster mid-fault may not answer
                    log.debug("commit positions unavailable; trying again", exc_info=True)
            time.sleep(1)
        return -1

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(2.0):
            with self._lock:
                try:
                    positions = self._positions()
                except Exception:
                    log.debug("commit positions unavailable; trying again", exc_info=True)
                    continue
            now = time.monotonic()
            self.samples.append((time.time(), sum(h - c for _, c, h in positions)))
            for place, committed, high in positions:
                earlier = self._still.get(place)
                if high <= committed:
                    self._still.pop(place, None)
                elif earlier is None or earlier[0] != committed:
                    self._still[place] = (committed, now)
                else:
                    still = now - earlier[1]
                    self.longest_still_s = max(self.longest_still_s, still)
                    if still > UNREAD_LIMIT_S:
                        self._unread.add(f"{place[0]}[{place[1]}]")
        self._consumer.close()

    def unread(self) -> list[str]:
        return sorted(self._unread)


Origin = tuple[str, int, int]  # an ingest record: topic, partition, offset


def _origin(record: dict[str, Any]) -> Origin:
    return (record["source_topic"], record["source_partition"], record["source_offset"])


@dataclass
class _Fates:
    """What the output topics say became of the inputs."""

    delivered: set[Origin] = field(default_factory=set)
    dropped: set[Origin] = field(default_factory=set)
    lettered: set[Origin] = field(default_factory=set)
    # (event id, partner topic) -> when each copy was written, and its input
    copies: dict[tuple[str, str], list[tuple[float, Origin]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    audit_ids: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    audits: Counter[str] = field(default_factory=Counter)  # audit id -> records


def _account(settings: Settings, report: ChaosReport) -> None:
    """Every accepted input's fate, the copies and the audit, read from the topics."""
    ingest = [spec.full_name(settings.topic_prefix) for spec in INGEST_TOPICS]
    accepted = {
        (m.topic() or "", m.partition() or 0, m.offset() or 0)
        for m in read_to_end(settings, ingest, complete=True)
    }
    fates = _read_fates(settings, set(ingest), report)
    report.accepted = len(accepted)
    report.delivered = len(accepted & fates.delivered)
    report.dropped = len((accepted & fates.dropped) - fates.delivered)
    report.dead_lettered = len((accepted & fates.lettered) - fates.delivered - fates.dropped)
    missing = accepted - fates.delivered - fates.dropped - fates.lettered
    report.lost = len(missing)
    report.lost_examples = [f"{t}[{p}]@{o}" for t, p, o in sorted(missing)[:5]]
    report.extra_audits = sum(n - 1 for n in fates.audits.values())
    report.copies_change_ids = sum(1 for ids in fates.audit_ids.values() if len(ids) > 1)
    _blame_copies(fates, report)


def _read_fates(settings: Settings, ingest: set[str], report: ChaosReport) -> _Fates:
    prefix = settings.topic_prefix
    partners = {prefix + p.topic for p in policy_of(settings).partners}
    events, audits = AvroCodec(EVENT), AvroCodec(DELIVERY_AUDIT)
    dead, outcomes = AvroCodec(DEAD_LETTER_SCHEMA), AvroCodec(PIPELINE_OUTCOME)
    audit_topic, dead_topic = AUDIT.full_name(prefix), DEAD_LETTERS.full_name(prefix)
    fates = _Fates()
    topics = [*sorted(partners), audit_topic, dead_topic, PIPELINE_OUTCOMES.full_name(prefix)]
    for message in read_to_end(settings, topics, complete=True):
        topic, value = message.topic() or "", message.value() or b""
        if topic in partners:
            envelope = events.decode(value)["envelope"]
            lineage = envelope["lineage"]
            origin = (
                lineage["source_topic"],
                lineage["source_partition"],
                lineage["source_offset"],
            )
            if origin[0] in ingest:
                fates.delivered.add(origin)
            written = message.timestamp()[1] / 1000
            fates.copies[(str(envelope["event_id"]), topic)].append((written, origin))
            report.deliveries += 1
        elif topic == audit_topic:
            audit = audits.decode(value)
            fates.audits[str(audit["audit_id"])] += 1
            pair = (str(audit["event_id"]), str(audit["partner_id"]))
            fates.audit_ids[pair].add(str(audit["audit_id"]))
            report.audit_records += 1
        elif topic == dead_topic:
            letter = dead.decode(value)
            fates.lettered.add(_origin(letter))
            if letter["source_topic"] in partners:  # a sink's: refused, or it gave up
                report.sink_dead_letters[str(letter["error_class"])] += 1
        else:
            outcome = outcomes.decode(value)
            if outcome["source_topic"] is not None:
                fates.dropped.add(_origin(outcome))
    return fates


def _bound_faults(faults: list[Fault], samples: list[tuple[float, int]]) -> None:
    """Each fault's ``in_flight``: the most uncommitted sampled from its start to the next
    fault's, the window its copies are put down to (see :func:`_blame_copies`)."""
    ordered = sorted(faults, key=lambda f: f.at)
    for fault, after in zip(ordered, [*ordered[1:], None], strict=True):
        end = after.at if after is not None else float("inf")
        seen = [count for at, count in samples if fault.at <= at < end]
        fault.in_flight = max(seen, default=0)


def _blame_copies(fates: _Fates, report: ChaosReport) -> None:
    """Each copy beyond the first is put down to the last fault before it was written."""
    faults = sorted(report.faults, key=lambda f: f.at)
    duplicated: dict[int, set[Origin]] = defaultdict(set)
    for found in fates.copies.values():
        if len(found) < 2:
            continue
        found.sort()
        report.extra_copies += len(found) - 1
        for written, origin in found[1:]:
            before = [i for i, f in enumerate(faults) if f.at <= written]
            if before:
                faults[before[-1]].extra_copies += 1
                duplicated[before[-1]].add(origin)
    for index, origins in duplicated.items():
        faults[index].duplicated_inputs = len(origins)


def write_report(report: ChaosReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), **report.as_json()}
    path.write_text(json.dumps(document, indent=2) + "\n")
