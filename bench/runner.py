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

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka.admin import NewTopic
from prometheus_client import CollectorRegistry

from bench import report as figures
from bench.launch import FLOOR_OUT, PROFILE, Launcher
from bench.options import BenchOptions, StalledError, System, SystemResult
from bench.profile import summarise
from bench.readings import (
    arrivals,
    check_alive,
    created_by_event,
    peak_rss,
    read_all,
    records_written,
    sent_before,
    stop,
    timestamps,
)
from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.errors import LiaisonError
from liaison.kafka.client import (
    KafkaProducer,
    admin_result,
    group_is_stable,
    make_admin,
    producer_config,
)
from liaison.kafka.embedded import EmbeddedKafka
from liaison.kafka.lag import LagExporter
from liaison.kafka.topics import (
    INGEST_TOPICS,
    ensure_topics,
)
from liaison.metrics import LagMetrics
from liaison.policy import RoutingPolicy, declared_topics, policy_of
from liaison.settings import Settings
from stack.synthetic.generator import SyntheticRecord, TrafficGenerator, TrafficMix
from stack.synthetic.output import produce

__all__ = ["BenchOptions", "run_bench"]

WARM_UP = 200  # records offered and drained before the latency is measured
PROFILE_EVENTS = 5_000  # enough for the shares to settle; cProfile slows the worker


def run_bench(
    settings: Settings, options: BenchOptions, out: Callable[[str], None]
) -> dict[str, Any]:
    data_dir = settings.state_dir / "bench"
    # Plaintext: the floor, Liaison and the peer meet one broker the same way, and the
    # figures measure the processing, not TLS and SCRAM (which every contender would pay).
    broker = EmbeddedKafka.from_settings(settings, data_dir=data_dir / "kafka", secure=False)
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
        self.policy: RoutingPolicy = policy_of(settings)
        self.admin = make_admin(settings, bootstrap)
        # The systems must give identical answers, so no race by design: no cross-source
        # pairs (which of two systems' reports stands depends on which topic is read first),
        # and no amendment or erasure of a record the watchlist join can pair (whether a
        # hit carries the old version or the new depends on which the join saw first).
        mix = TrafficMix(cross_source=0.0, amend_watch_parties=False)
        self.workload = TrafficGenerator(seed=options.seed, mix=mix).take(options.events)
        self.partner_topics = sorted({p.topic for p in self.policy.partners})
        self.described: dict[tuple[str, str], str] = {}
        self.launcher = Launcher(options, bootstrap, data_dir, self.partner_topics)

    # -- systems -------------------------------------------------------------

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
        for system in self.launcher.systems():
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
        for system in self.launcher.systems():
            if system.name == "liaison-2-workers" or system.name in stalled:
                continue
            self._latency(system, rate, results[system.name])
        agreement = figures.agreement(deliveries)
        self._explain(deliveries)
        report = figures.report(results, agreement, rate, options)
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
        system = next(
            s for s in self.launcher.systems(everything=True) if s.name == "liaison-1-worker"
        )
        processes = system.start(prefix, self.bootstrap, self.data_dir / "logs")
        try:
            self._wait_done(system, prefix, processes)
        finally:
            stop(processes)
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

    def _throughput(self, system: System) -> tuple[SystemResult, frozenset[tuple[str, str]] | None]:
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
            result.peak_rss_bytes = {str(p.pid): peak_rss(p.pid) for p in processes}
        finally:
            stop(processes)
        first = timestamps(self.bootstrap, [prefix + t for t in system.first_outputs])
        last = timestamps(self.bootstrap, [prefix + t for t in system.last_outputs])
        result.seconds = max(1e-3, (max(last) - min(first)) / 1000)
        result.throughput = result.events / result.seconds
        result.state_bytes = self._state_bytes(prefix)
        result.records_written = records_written(self.bootstrap, prefix)
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

    def _latency(self, system: System, rate: float, result: SystemResult) -> None:
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
            stop(processes)
        measured = {str(r.event.envelope.event_id) for r in records if r.event is not None}
        sent = {
            event_id: stamp
            for event_id, stamp in created_by_event(
                self.bootstrap, [s.full_name(prefix) for s in INGEST_TOPICS]
            ).items()
            if event_id in measured
        }
        outputs = (
            [prefix + FLOOR_OUT]
            if system.name == "floor"
            else [prefix + t for t in self.partner_topics]
        )
        arrived = arrivals(self.bootstrap, outputs)
        samples = sorted(at - sent_before(sent[eid], at) for eid, at in arrived if eid in sent)
        if not samples:
            raise LiaisonError(f"{system.name}: no deliveries to measure latency on")
        result.latency_samples_ms = [float(s) for s in samples]
        result.latency_ms = {
            "rate": rate,
            "p50": figures.percentile(samples, 50),
            "p95": figures.percentile(samples, 95),
            "p99": figures.percentile(samples, 99),
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

    def _wait_ready(self, system: System, processes: list[subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + 180
        members = len(processes)
        while system.needs_group and not group_is_stable(self.admin, system.group, members=members):
            check_alive(system, processes)
            if time.monotonic() > deadline:
                raise LiaisonError(f"{system.name} did not join its group")
            time.sleep(0.5)

    def _wait_done(
        self, system: System, prefix: str, processes: list[subprocess.Popen[bytes]]
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
                check_alive(system, processes)
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
        for message in read_all(self.bootstrap, [prefix + t for t in self.partner_topics]):
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
        for line in figures.table(report):
            self.out(line)
        chart = figures.chart(results, out_dir / "bench.png")
        self.out(f"\nWrote {out_dir / 'bench.json'}" + (f" and {chart}" if chart else ""))
