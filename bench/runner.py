"""The benchmark run: one broker, one workload, each system in turn.

For each system the same generated workload is preloaded into ingest topics of its own
(topic prefix ``bench-<system>.``), the system's processes are started, and the run waits
until its consumer group has committed everything (no lag on any topic it reads). Then:

- throughput: ingest records / (last output's timestamp - first output's timestamp), the
  steady drain rate, start-up excluded;
- the deliveries (partner topic, event id) it made, compared between systems: a benchmark
  of wrong answers is no benchmark;
- peak resident memory (``VmHWM``) of each of its processes;
- the state it keeps: the bytes of its ``state.*`` changelog topics on the broker's disk.

A second pass offers the workload at a steady rate (half of Liaison's single-worker
throughput unless given) and measures, per delivery, the time from the ingest record's
timestamp to the partner record's timestamp.
"""

from __future__ import annotations

import bisect
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition, libversion
from confluent_kafka.admin import NewTopic
from prometheus_client import CollectorRegistry

from bench.profile import summarise
from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.errors import LiaisonError, SerdeError
from liaison.kafka.client import (
    KafkaProducer,
    admin_result,
    group_is_stable,
    make_admin,
    producer_config,
)
from liaison.kafka.embedded import EmbeddedKafka
from liaison.kafka.jars import KAFKA_VERSION
from liaison.kafka.lag import LagExporter
from liaison.kafka.topics import (
    AUDIT,
    DEAD_LETTERS,
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
    ensure_topics,
)
from liaison.metrics import LagMetrics
from liaison.policy import DEFAULT_POLICY, RoutingPolicy, declared_topics, load_policy
from liaison.settings import Settings, env_name
from stack.synthetic.generator import SyntheticRecord, TrafficGenerator, TrafficMix
from stack.synthetic.output import produce

__all__ = ["BenchOptions", "run_bench"]

FLOOR_OUT = "bench.floor-out"
PROFILE = "liaison-worker.prof"
WARM_UP = 200  # records offered and drained before the latency is measured
PROFILE_EVENTS = 5_000  # enough for the shares to settle; cProfile slows the worker
REPO = Path(__file__).resolve().parents[1]
PEER_DIR = REPO / "bench" / "quix"


class StalledError(LiaisonError):
    """A system stopped making progress on the workload."""


@dataclass(frozen=True)
class BenchOptions:
    events: int = 20_000
    seed: int = 11
    latency_rate: float | None = None  # default: half of Liaison's single-worker throughput
    latency_events: int = 5_000
    out_dir: Path = Path("bench-results")
    peer_python: Path | None = None  # the peer's virtual environment's python, if set up
    timeout_s: float = 1200.0
    stall_s: float = 120.0  # a system whose lag does not shrink for this long has stalled
    profile: bool = False  # one more single-worker pass, under cProfile, not timed
    systems: tuple[str, ...] = ()  # only these (by name); all when empty


@dataclass
class SystemResult:
    name: str
    events: int
    seconds: float = 0.0
    throughput: float = 0.0
    peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    state_bytes: int = 0
    deliveries: int = 0
    records_written: int = 0  # every record it wrote, to any topic (changelogs included)
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_samples_ms: list[float] = field(default_factory=list)


@dataclass
class _System:
    name: str
    group: str
    reads: list[str]  # topic names without prefix: what its group consumes
    first_outputs: list[str]
    last_outputs: list[str]
    start: Callable[[str, str, Path], list[subprocess.Popen[bytes]]]  # prefix, bootstrap, logs
    needs_group: bool = True  # wait for the group to be stable before offering load


def run_bench(
    settings: Settings, options: BenchOptions, out: Callable[[str], None]
) -> dict[str, Any]:
    data_dir = settings.state_dir / "bench"
    broker = EmbeddedKafka.from_settings(settings, data_dir=data_dir / "kafka")
    broker.stop()
    shutil.rmtree(data_dir, ignore_errors=True)
    out("Starting Kafka...")
    info = broker.start()
    try:
        return _Bench(settings, options, info.bootstrap_servers, broker, data_dir, out).run()
    finally:
        # The run's clients are gone by now: librdkafka can hang destroying a client
        # whose broker has already stopped.
        out("Stopping Kafka...")
        broker.stop()


class _Bench:
    def __init__(  # noqa: PLR0917 - the run's parts, each once
        self,
        settings: Settings,
        options: BenchOptions,
        bootstrap: str,
        broker: EmbeddedKafka,
        data_dir: Path,
        out: Callable[[str], None],
    ) -> None:
        self.settings, self.options, self.bootstrap = settings, options, bootstrap
        self.broker, self.data_dir, self.out = broker, data_dir, out
        self.policy: RoutingPolicy = load_policy(settings.routing_policy or DEFAULT_POLICY)
        self.admin = make_admin(settings, bootstrap)
        # The systems must give identical answers, so no race by design: no cross-source
        # pairs (which of two systems' reports stands depends on which topic is read first),
        # and no amendment or erasure of a record the watchlist join can pair (whether a
        # hit carries the old version or the new depends on which the join saw first).
        mix = TrafficMix(cross_source=0.0, amend_watch_parties=False)
        self.workload = TrafficGenerator(seed=options.seed, mix=mix).take(options.events)
        self.partner_topics = sorted({p.topic for p in self.policy.partners})
        self.described: dict[tuple[str, str], str] = {}

    # -- systems -------------------------------------------------------------

    def _systems(self, *, everything: bool = False) -> list[_System]:
        ingest = [spec.name for spec in INGEST_TOPICS]
        internal = [PIPELINE_VERSIONED, PIPELINE_DEDUPED, PIPELINE_WATCH, PIPELINE_ENRICHED]
        first = [PIPELINE_VERSIONED.name, PIPELINE_OUTCOMES.name, DEAD_LETTERS.name]
        last = [*self.partner_topics, PIPELINE_OUTCOMES.name, DEAD_LETTERS.name, AUDIT.name]
        systems = [
            _System(
                "floor",
                "bench-floor",
                ingest,
                [FLOOR_OUT],
                [FLOOR_OUT],
                self._start_floor,
                needs_group=False,
            ),
            _System(
                "liaison-1-worker",
                "bench-liaison-1",
                ingest + [t.name for t in internal],
                first,
                last,
                lambda p, b, logs: self._start_workers(p, b, logs, "bench-liaison-1", 1),
            ),
            _System(
                "liaison-2-workers",
                "bench-liaison-2",
                ingest + [t.name for t in internal],
                first,
                last,
                lambda p, b, logs: self._start_workers(p, b, logs, "bench-liaison-2", 2),
            ),
        ]
        if self.options.peer_python is not None:
            systems.append(
                _System(
                    "quix-streams",
                    "bench-quix",
                    ingest + [t.name for t in internal],
                    first,
                    last,
                    self._start_peer,
                )
            )
        wanted = self.options.systems
        return [s for s in systems if everything or not wanted or s.name in wanted]

    def _env(self, prefix: str, app_id: str) -> dict[str, str]:
        return {
            **os.environ,
            env_name("bootstrap_servers"): self.bootstrap,
            env_name("topic_prefix"): prefix,
            env_name("pipeline_app_id"): app_id,
            env_name("state_dir"): str(self.data_dir / "state" / prefix.rstrip(".")),
            env_name("log_level"): "WARNING",
        }

    def _spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
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

    def _start_floor(
        self, prefix: str, bootstrap: str, logs: Path
    ) -> list[subprocess.Popen[bytes]]:
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
            self._spawn(
                args,
                {**self._env(prefix, "bench-floor"), "PYTHONPATH": str(REPO)},
                logs / "floor.log",
            )
        ]

    def _start_workers(
        self, prefix: str, _bootstrap: str, logs: Path, app_id: str, count: int
    ) -> list[subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "liaison", "worker"]
        if prefix.startswith("bench-profile"):
            self.options.out_dir.mkdir(parents=True, exist_ok=True)
            profile = self.options.out_dir / PROFILE
            command[1:1] = ["-m", "cProfile", "-o", str(profile.resolve())]
        return [
            self._spawn(
                command,
                {
                    **self._env(prefix, app_id),
                    env_name("state_dir"): str(self.data_dir / "state" / f"{app_id}-{n}"),
                },
                logs / f"{app_id}-{n}.log",
            )
            for n in range(count)
        ]

    def _start_peer(self, prefix: str, bootstrap: str, logs: Path) -> list[subprocess.Popen[bytes]]:
        python = self.options.peer_python
        if python is None:
            raise LiaisonError("no peer environment")
        args = [str(python), str(PEER_DIR / "app.py"), "--bootstrap", bootstrap]
        args += ["--prefix", prefix, "--group", "bench-quix"]
        args += ["--state-dir", str(self.data_dir / "state" / "quix")]
        env = {**self._env(prefix, "bench-quix"), "PYTHONPATH": str(REPO)}
        return [self._spawn(args, env, logs / "quix.log")]

    # -- the run -------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            del self.admin  # destroyed now, while the broker is still up

    def _run(self) -> dict[str, Any]:
        options = self.options
        self.out(
            f"Workload: {options.events} generated records (seed {options.seed}), "
            f"{sum(len(r.value) for r in self.workload) / options.events:.0f} bytes on average"
        )
        results: dict[str, SystemResult] = {}
        deliveries: dict[str, frozenset[tuple[str, str]]] = {}
        stalled: dict[str, str] = {}
        for system in self._systems():
            try:
                result, made = self._throughput(system)
            except StalledError as exc:
                self.out(f"{system.name}: {exc}")
                stalled[system.name] = str(exc)
                continue
            results[system.name] = result
            if made is not None:
                deliveries[system.name] = made
        liaison = results.get("liaison-1-worker")
        rate = options.latency_rate or max(
            1.0, (liaison or next(iter(results.values()))).throughput / 2
        )
        for system in self._systems():
            if system.name == "liaison-2-workers" or system.name in stalled:
                continue
            self._latency(system, rate, results[system.name])
        agreement = _agreement(deliveries)
        self._explain(deliveries)
        report = _report(results, agreement, rate, options)
        report["stalled"] = stalled
        if options.profile:
            try:
                report["profile"] = self._profile()
            except StalledError as exc:
                self.out(str(exc))
                report["profile"] = {"error": str(exc)}
        self._write(report, results)
        return report

    def _explain(self, deliveries: dict[str, frozenset[tuple[str, str]]]) -> None:
        """Where a system's deliveries differ from Liaison's, what they are (a sample),
        in ``deliveries-diff.json``."""
        reference = deliveries.get("liaison-1-worker")
        if reference is None:
            return
        diff = {
            name: {
                side: sorted(f"{t} {self.described.get((t, e), e)}" for t, e in pairs)[:100]
                for side, pairs in (("missing", reference - made), ("extra", made - reference))
            }
            for name, made in deliveries.items()
            if made != reference
        }
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        (self.options.out_dir / "deliveries-diff.json").write_text(json.dumps(diff, indent=2))

    def _profile(self) -> dict[str, Any]:
        """The single worker drains the workload once more under cProfile (which slows it:
        this pass says where time goes, the measured one how fast)."""
        prefix = "bench-profile."
        records = self.workload[:PROFILE_EVENTS]
        self.out(f"\nliaison-1-worker under cProfile: {len(records)} records...")
        self._prepare(prefix)
        self._preload(prefix, records, rate=None)
        system = next(s for s in self._systems(everything=True) if s.name == "liaison-1-worker")
        processes = system.start(prefix, self.bootstrap, self.data_dir / "logs")
        try:
            self._wait_done(system, prefix, processes)
        finally:
            _stop(processes)
        summary = summarise(self.options.out_dir / PROFILE, len(records))
        for part in summary["parts"]:
            self.out(
                f"  {part['part']:26} {part['share']:6.1%} {part['us_per_event']:9,.0f} µs/event"
            )
        return summary

    def _prepare(self, prefix: str) -> None:
        ensure_topics(
            self.admin, declared_topics(self.policy), prefix=prefix, replication_override=1
        )
        futures = self.admin.create_topics([NewTopic(prefix + FLOOR_OUT, 6, 1)])
        for future in futures.values():
            try:
                admin_result(future)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise

    def _throughput(
        self, system: _System
    ) -> tuple[SystemResult, frozenset[tuple[str, str]] | None]:
        prefix = f"bench-{system.name}."
        self.out(f"\n{system.name}: {len(self.workload)} records...")
        self._prepare(prefix)
        result = SystemResult(system.name, len(self.workload))
        if not system.needs_group:
            self._preload(prefix, self.workload, rate=None)
        processes = system.start(prefix, self.bootstrap, self.data_dir / "logs")
        try:
            if system.needs_group:
                # Every process in the group before the load arrives: a rebalance while
                # records are in flight is start-up, not throughput (see README: Performance).
                self._wait_ready(system, processes)
                self._preload(prefix, self.workload, rate=None)
            self._wait_done(system, prefix, processes)
            result.peak_rss_bytes = {str(p.pid): _peak_rss(p.pid) for p in processes}
        finally:
            _stop(processes)
        first = _timestamps(self.bootstrap, [prefix + t for t in system.first_outputs])
        last = _timestamps(self.bootstrap, [prefix + t for t in system.last_outputs])
        result.seconds = max(1e-3, (max(last) - min(first)) / 1000)
        result.throughput = result.events / result.seconds
        result.state_bytes = self._state_bytes(prefix)
        result.records_written = _records_written(self.bootstrap, prefix)
        made = None
        if system.name != "floor":
            made = self._deliveries(prefix)
            result.deliveries = len(made)
        rss = sum(result.peak_rss_bytes.values()) / 2**20
        self.out(
            f"{system.name}: {result.throughput:,.0f} records/s ({result.seconds:.1f} s), "
            f"{result.records_written / result.events:.1f} records written per record, "
            f"peak RSS {rss:.0f} MiB, state {result.state_bytes / 2**20:.1f} MiB"
        )
        return result, made

    def _latency(self, system: _System, rate: float, result: SystemResult) -> None:
        prefix = f"bench-latency-{system.name}."
        records = self.workload[: self.options.latency_events]
        # A warm-up the latency does not count: a system that joined its group may still be
        # restoring state or fetching metadata, which is start-up, not steady state.
        warm_up = self.workload[-WARM_UP:] if len(self.workload) > len(records) + WARM_UP else []
        self.out(f"{system.name}: latency at {rate:,.0f} records/s for {len(records)} records...")
        self._prepare(prefix)
        processes = system.start(prefix, self.bootstrap, self.data_dir / "logs")
        try:
            self._wait_ready(system, processes)
            if warm_up:
                self._preload(prefix, warm_up, rate=rate)
                self._wait_done(system, prefix, processes)
            self._preload(prefix, records, rate=rate)
            self._wait_done(system, prefix, processes)
        finally:
            _stop(processes)
        measured = {str(r.event.envelope.event_id) for r in records if r.event is not None}
        sent = {
            event_id: stamp
            for event_id, stamp in _created_by_event(
                self.bootstrap, [s.full_name(prefix) for s in INGEST_TOPICS]
            ).items()
            if event_id in measured
        }
        outputs = (
            [prefix + FLOOR_OUT]
            if system.name == "floor"
            else [prefix + t for t in self.partner_topics]
        )
        arrived = _arrivals(self.bootstrap, outputs)
        samples = sorted(at - _sent_before(sent[eid], at) for eid, at in arrived if eid in sent)
        if not samples:
            raise LiaisonError(f"{system.name}: no deliveries to measure latency on")
        result.latency_samples_ms = [float(s) for s in samples]
        result.latency_ms = {
            "rate": rate,
            "p50": _percentile(samples, 50),
            "p95": _percentile(samples, 95),
            "p99": _percentile(samples, 99),
            "max": float(samples[-1]),
            "samples": float(len(samples)),
        }
        self.out(
            f"{system.name}: latency p50 {result.latency_ms['p50']:.0f} ms, "
            f"p99 {result.latency_ms['p99']:.0f} ms, max {result.latency_ms['max']:.0f} ms"
        )

    def _preload(self, prefix: str, records: Sequence[SyntheticRecord], rate: float | None) -> None:
        with KafkaProducer(producer_config(self.settings, self.bootstrap)) as producer:
            produce(records, producer, prefix, rate)

    def _wait_ready(self, system: _System, processes: list[subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + 180
        members = len(processes)
        while system.needs_group and not group_is_stable(self.admin, system.group, members=members):
            _check_alive(system, processes)
            if time.monotonic() > deadline:
                raise LiaisonError(f"{system.name} did not join its group")
            time.sleep(0.5)

    def _wait_done(
        self, system: _System, prefix: str, processes: list[subprocess.Popen[bytes]]
    ) -> None:
        topics = [prefix + t for t in system.reads]
        exporter = LagExporter(
            self.settings,
            {system.group: topics},
            LagMetrics.create(CollectorRegistry()),
            self.bootstrap,
        )
        deadline = time.monotonic() + self.options.timeout_s
        quiet = 0
        least: int | None = None
        progressed = time.monotonic()
        try:
            while quiet < 2:
                _check_alive(system, processes)
                now = time.monotonic()
                if now > deadline:
                    raise LiaisonError(f"{system.name} did not finish in time")
                behind = sum(r.messages for r in exporter.measure())
                # Any change is progress: the total can grow for a while as one record
                # fans out into several on the internal topics. A stalled system's stays put.
                if behind != least:
                    least, progressed = behind, now
                elif now - progressed > self.options.stall_s:
                    raise StalledError(
                        f"{system.name} stalled: {behind} records behind, no progress "
                        f"for {self.options.stall_s:.0f} s"
                    )
                quiet = quiet + 1 if behind == 0 else 0
                time.sleep(1.0)
        finally:
            exporter.close()

    def _deliveries(self, prefix: str) -> frozenset[tuple[str, str]]:
        codec = AvroCodec(EVENT)
        made = set()
        for message in _read_all(self.bootstrap, [prefix + t for t in self.partner_topics]):
            event = codec.decode(message.value() or b"")
            topic = (message.topic() or "").removeprefix(prefix)
            envelope = event["envelope"]
            delivery = (topic, str(envelope["event_id"]))
            made.add(delivery)
            # What each delivery is, should two systems disagree about it.
            self.described[delivery] = (
                f"{envelope['source_system']}:{envelope['source_record_id']} "
                f"v{envelope['version']} {envelope['operation']}"
            )
        return frozenset(made)

    def _state_bytes(self, prefix: str) -> int:
        """The state the system keeps: the records of its changelog topics (their log
        segments on the broker's disk) and its local store, if it has one."""
        storage = self.broker.storage_dir
        folders = list(storage.glob(f"{prefix}state.*"))
        # Quix Streams names its changelogs after the group and the input topic.
        folders += storage.glob(f"changelog__*--{prefix}*")
        total = sum(f.stat().st_size for folder in folders for f in folder.glob("*.log"))
        peer_state = self.data_dir / "state" / "quix"
        if "quix" in prefix and peer_state.exists():
            total += sum(f.stat().st_blocks * 512 for f in peer_state.rglob("*") if f.is_file())
        return total

    def _write(self, report: dict[str, Any], results: dict[str, SystemResult]) -> None:
        out_dir = self.options.out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
        for line in _table(report):
            self.out(line)
        chart = _chart(results, out_dir / "bench.png")
        self.out(f"\nWrote {out_dir / 'bench.json'}" + (f" and {chart}" if chart else ""))


# -- reading the broker -----------------------------------------------------------------


def _read_all(bootstrap: str, topics: Iterable[str]) -> Iterable[Message]:
    """Every record of these topics, from the start to the end as it is now."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata_ = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, p, 0)
            for topic in topics
            if topic in metadata_.topics
            for p in metadata_.topics[topic].partitions
        ]
        pending = set()
        for tp in partitions:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            if high > low:
                pending.add((tp.topic, tp.partition))
        consumer.assign([TopicPartition(t, p, 0) for t, p in pending])
        idle_deadline = time.monotonic() + 60
        while pending and time.monotonic() < idle_deadline:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                    continue
                idle_deadline = time.monotonic() + 60
                yield message
    finally:
        consumer.close()


def _records_written(bootstrap: str, prefix: str) -> int:
    """Records in every topic of this run but its ingest topics (its own and Quix
    Streams' changelogs included)."""
    ingest = {spec.full_name(prefix) for spec in INGEST_TOPICS}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-counter"})
    try:
        topics = consumer.list_topics(timeout=10).topics
        total = 0
        for name, topic in topics.items():
            if name in ingest or not (name.startswith(prefix) or f"--{prefix}" in name):
                continue
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=10
                )
                total += high - low
        return total
    finally:
        consumer.close()


def _timestamps(bootstrap: str, topics: list[str]) -> list[int]:
    stamps = [m.timestamp()[1] for m in _read_all(bootstrap, topics)]
    if not stamps:
        raise LiaisonError(f"nothing was written to {', '.join(topics)}")
    return stamps


def _created_by_event(bootstrap: str, topics: list[str]) -> dict[str, list[int]]:
    """Each event id's ingest records' timestamps, in order (a replay sends one again)."""
    codec = AvroCodec(EVENT)
    sent: dict[str, list[int]] = {}
    for message in _read_all(bootstrap, topics):
        try:
            event_id = str(codec.decode(message.value() or b"")["envelope"]["event_id"])
        except SerdeError:
            continue
        sent.setdefault(event_id, []).append(message.timestamp()[1])
    for stamps in sent.values():
        stamps.sort()
    return sent


def _sent_before(stamps: list[int], arrived: int) -> int:
    """The send an arrival answers: the last one before it (a copy of a replay is as new
    as the replay), or the first if the clocks disagree."""
    index = bisect.bisect_right(stamps, arrived) - 1
    return stamps[max(index, 0)]


def _arrivals(bootstrap: str, topics: list[str]) -> list[tuple[str, int]]:
    codec = AvroCodec(EVENT)
    arrivals = []
    for message in _read_all(bootstrap, topics):
        try:
            event_id = str(codec.decode(message.value() or b"")["envelope"]["event_id"])
        except SerdeError:
            continue
        arrivals.append((event_id, message.timestamp()[1]))
    return arrivals


# -- processes ----------------------------------------------------------------------------


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _check_alive(system: _System, processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is not None:
            raise LiaisonError(f"{system.name}: a process exited with code {process.returncode}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- the report -------------------------------------------------------------------------------


def _percentile(ordered: Sequence[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return float(ordered[index])


def _agreement(deliveries: dict[str, frozenset[tuple[str, str]]]) -> dict[str, Any]:
    reference = deliveries.get("liaison-1-worker")
    if reference is None:
        return {}  # nothing to compare with
    return {
        name: {
            "deliveries": len(made),
            "same_as_liaison": made == reference,
            "missing": len(reference - made),
            "extra": len(made - reference),
        }
        for name, made in deliveries.items()
    }


def _machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": model, "platform": platform.platform()}


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "kafka": KAFKA_VERSION}
    versions["librdkafka"] = libversion()[0]
    for package in ("confluent-kafka", "faust-streaming", "aiokafka", "fastavro"):
        versions[package] = metadata.version(package)
    return versions


def _report(
    results: dict[str, SystemResult],
    agreement: dict[str, Any],
    rate: float,
    options: BenchOptions,
) -> dict[str, Any]:
    def ratio(name: str, figure: str, other: str = "liaison-1-worker") -> float | None:
        mine, theirs = results.get(other), results.get(name)
        if mine is None or theirs is None:
            return None
        if figure == "throughput":
            return mine.throughput / theirs.throughput
        return mine.latency_ms["p99"] / max(theirs.latency_ms["p99"], 1e-9)

    ratios = {
        "throughput_liaison_over_floor": ratio("floor", "throughput"),
        "p99_liaison_over_floor": ratio("floor", "p99"),
        "throughput_liaison_over_peer": ratio("quix-streams", "throughput"),
        "p99_liaison_over_peer": ratio("quix-streams", "p99"),
        "throughput_2_workers_over_1": ratio(
            "liaison-1-worker", "throughput", other="liaison-2-workers"
        ),
    }
    systems = {}
    for name, result in results.items():
        entry = asdict(result)
        entry.pop("latency_samples_ms")
        systems[name] = entry
    return {
        "workload": {"events": options.events, "seed": options.seed, "latency_rate": rate},
        "machine": _machine(),
        "versions": _versions(),
        "systems": systems,
        "ratios": ratios,
        "deliveries_agree": agreement,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _table(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"{'system':20} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'peak RSS MiB':>13} {'state MiB':>10} {'deliveries':>11}",
    ]
    for name, system in report["systems"].items():
        latency = system["latency_ms"]
        rss = sum(system["peak_rss_bytes"].values()) / 2**20

        def cell(key: str, latency: dict[str, float] = latency) -> str:
            return f"{latency[key]:8.0f}" if key in latency else f"{'-':>8}"

        lines.append(
            f"{name:20} {system['throughput']:10,.0f} {cell('p50')} {cell('p99')} {cell('max')} "
            f"{rss:13.0f} {system['state_bytes'] / 2**20:10.1f} {system['deliveries'] or '-':>11}"
        )
    lines.append("")
    for key, value in report["ratios"].items():
        lines.append(f"{key:32} {'-' if value is None else f'{value:.2f}'}")
    for name, verdict in report["deliveries_agree"].items():
        lines.append(
            f"deliveries of {name}: {verdict['deliveries']}, "
            + (
                "the same as Liaison's"
                if verdict["same_as_liaison"]
                else f"DIFFERENT ({verdict['missing']} missing, {verdict['extra']} extra)"
            )
        )
    return lines


def _chart(results: dict[str, SystemResult], path: Path) -> Path | None:
    try:
        import matplotlib  # noqa: PLC0415 - optional, for the chart only

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    names = list(results)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bars = left.barh(names, [results[n].throughput for n in names], color="#3b6ea5")
    left.bar_label(bars, fmt="{:,.0f}", padding=3)
    left.set_xscale("log")
    left.set_xlabel("records per second, log scale (drain of a preloaded workload)")
    left.set_title("Throughput")
    left.invert_yaxis()
    measured = [n for n in names if results[n].latency_samples_ms]
    right.boxplot(
        [results[n].latency_samples_ms for n in measured],
        orientation="horizontal",
        tick_labels=measured,
        whis=(1, 99),
        showfliers=False,
    )
    right.set_xscale("log")
    right.set_xlabel("ms, ingest to partner topic (whiskers: p1 and p99)")
    right.set_title("Latency at a steady offered load")
    right.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
