"""``python -m bench.state`` (``make bench-state``): what the watch stage's state costs as an
identifier grows, and what sweeping costs as a table grows.

A busy identifier (a container number on every report of a route, a shipping line's vessel,
a freight forwarder) gathers many records under one watch key. This drives the worker's own
watch stage code (``Stages._join`` and ``Stages._remember``, through the in-flight window and
the real Faust tables, with the Avro codec) in this process, without a broker: Faust's
producer never runs and the benchmark confirms each changelog send itself. For each size it
loads that many customs records under one identifier as a restarted worker recovers them
(from changelog records, then the end of recovery), times probes of new customs records on
that identifier against probes on fresh identifiers, one at a time, and sweeps the
identifier's partition. It prints, per size:

- the probe time, median and p99, busy against fresh (the ratio should stay near 1);
- the largest changelog value the probes wrote (it must not grow with the size);
- what the layout before rows cost each probe at that size (reading and writing the whole
  identifier's value) and the size of that value, for comparison;
- the time the end of recovery took to file the rows by when they fall due, and the
  longest sweep after it (a stall of the stage's event loop);
- an alert on the busy identifier, which must meet every record (its cost grows with
  them: it makes a hit with each).

Then it recovers the versions table at ``--keys`` keys, one in a hundred past the replay
window, and sweeps one partition: the filing at the end of recovery, the sweeps, what they
deleted, against a scan of the whole table as sweeps did before the expiry index.

Figures are ratios within one run; the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
from faust.types.tuples import TP, RecordMetadata
from prometheus_client import CollectorRegistry

from liaison.identity import record_key
from liaison.metrics import PipelineMetrics
from liaison.model.common import Event, SourceSystem
from liaison.model.customs import Conveyance, Seizure
from liaison.model.police import IdentifierKind, PoliceAlert, WatchedItem
from liaison.policy import load_policy
from liaison.settings import load_settings
from pipelines.dedupe.decide import RecordState
from pipelines.enrich.watchlist import WatchKey
from pipelines.stages import Stages, _versions_expired
from pipelines.state import (
    WatchRow,
    dump_entries,
    dump_record_state,
    dump_watch_row,
    load_entries,
)
from pipelines.sweep import partition_of
from pipelines.window import InFlight, Pending, row_key
from stack.synthetic.generator import Label, TrafficGenerator

_PROBES = 200
_WATCH_TOPIC = "bench-state-watch"


class _Message:
    def __init__(self, partition: int) -> None:
        self.topic, self.partition, self.offset = _WATCH_TOPIC, partition, 0


class _Item:
    def __init__(self, partition: int) -> None:
        self.message = _Message(partition)


class _Source:
    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def ack(self, _item: Any) -> None:
        return None


@dataclasses.dataclass
class _Recovered:
    """What Faust's in-memory store reads of a changelog record during recovery."""

    key: bytes
    value: bytes
    message: Any


class _Bench:
    def __init__(self, app: faust.App) -> None:
        settings = load_settings({}, person_key=secrets.token_urlsafe(24))
        self.stages = Stages(
            app, settings, load_policy(), PipelineMetrics.create(CollectorRegistry())
        )
        self.tables = self.stages.watch_tables
        for table in (self.tables.alerts, self.tables.seen, self.tables.hits, self.stages.versions):
            table._verified_source_topics_for_partitions.add(_WATCH_TOPIC)
        self.window = InFlight(_Source(app))  # type: ignore[arg-type]
        self.buffer = app.producer.buffer
        self.largest = 0
        generated = TrafficGenerator(seed=71).take(3000)
        self.seizures = [
            r.event for r in generated if r.label is Label.SEIZURE and r.event is not None
        ]
        self.seizures = [e for e in self.seizures if isinstance(e.payload, Seizure)]
        self.alert = next(r.event for r in generated if r.label is Label.ALERT and r.event)
        self._serial = 0

    def serial(self) -> int:
        self._serial += 1
        return self._serial

    def seizure(self, container: str) -> Event:
        """A new customs record (its own record id) carrying ``container``."""
        self._serial += 1
        base = self.seizures[self._serial % len(self.seizures)]
        payload = base.payload
        if not isinstance(payload, Seizure):
            raise TypeError("the generator's seizure is not one")
        conveyance = dataclasses.replace(
            payload.conveyance or Conveyance(), container_numbers=(container,)
        )
        envelope = dataclasses.replace(
            base.envelope,
            event_id=uuid.uuid4(),
            source_record_id=f"BENCH-{self._serial:08d}",
            ingest_time=self.seizures[0].envelope.ingest_time + timedelta(seconds=self._serial),
        )
        return Event(envelope=envelope, payload=dataclasses.replace(payload, conveyance=conveyance))

    def alert_on(self, container: str) -> Event:
        if not isinstance(self.alert.payload, PoliceAlert):
            raise TypeError("the generator's alert is not one")
        items = (WatchedItem(kind=IdentifierKind.CONTAINER_NUMBER, identifier=container),)
        envelope = dataclasses.replace(
            self.alert.envelope,
            event_id=uuid.uuid4(),
            source_system=SourceSystem.POLICE,
            source_record_id=f"BENCH-ALERT-{container}",
            ingest_time=self.seizures[0].envelope.ingest_time + timedelta(days=1),
        )
        return Event(
            envelope=envelope, payload=dataclasses.replace(self.alert.payload, items=items)
        )

    async def recover(self, container: str, count: int) -> float:
        """``count`` customs records under ``container``, as recovery applies them; the
        seconds the end of recovery took to file them (see pipelines.sweep.Expiry)."""
        group = f"CONTAINER_NUMBER:{container}".encode()
        partition = partition_of(group, 12)
        batch = []
        for _ in range(count):
            event = self.seizure(container)
            row = WatchRow(
                event.envelope.ingest_time,
                self.stages.io.encode(event),
                event.envelope.ingest_time.date() + timedelta(days=365),
                self.stages.policy.digest,
            )
            message = type("M", (), {"partition": partition, "value": b""})()
            key = row_key(group, record_key(event).encode())
            batch.append(_Recovered(key, dump_watch_row(row), message))
        self.tables.seen.apply_changelog_batch(batch)
        return await _recovered(self.tables.seen)

    def confirm(self) -> None:
        """Confirm every changelog send made so far, noting the largest value."""
        while self.buffer.pending.qsize():
            sent = self.buffer.pending.get_nowait()
            self.largest = max(self.largest, len(sent.message.value or b""))
            sent.set_result(
                RecordMetadata(
                    topic=sent.message.channel.get_topic_name(),
                    partition=sent.message.partition or 0,
                    topic_partition=TP("bench", 0),
                    offset=0,
                )
            )

    async def probe(self, event: Event, container: str) -> float:
        """One probe through the stage's own join and memory; the seconds it blocked."""
        key = f"CONTAINER_NUMBER:{container}".encode()
        watch_key = WatchKey(IdentifierKind.CONTAINER_NUMBER, container)
        pending = Pending(_Item(partition_of(key, 12)))  # type: ignore[arg-type]
        started = time.perf_counter()
        self.tables.split(self.window, pending, key)
        hits = self.stages._join(event, watch_key, key, self.window, pending)
        self.stages._remember(event, key, hits, self.window, pending)
        self.stages._advance(event)
        spent = time.perf_counter() - started
        await self.window.submit(pending)
        await asyncio.sleep(0)
        self.confirm()
        return spent


async def _recovered(table: Any) -> float:
    """The end of recovery with every partition this worker's: the seconds it took."""
    changelog = table.changelog_topic.get_topic_name()
    started = time.perf_counter()
    await table.on_recovery_completed({TP(changelog, p) for p in range(12)}, set())
    return time.perf_counter() - started


def _ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def _size(bench: _Bench, size: int) -> dict[str, Any]:
    busy = f"BUSU{size:06d}"
    filing_s = await bench.recover(busy, size)
    bench.largest = 0
    fresh, crowded = [], []
    for _ in range(_PROBES):
        lone = f"LONU{bench.serial():07d}"
        fresh.append(await bench.probe(bench.seizure(lone), lone))
        crowded.append(await bench.probe(bench.seizure(busy), busy))
    await asyncio.sleep(0.05)
    bench.confirm()
    # What each probe cost before rows: the whole identifier's value read and written.
    encoded = bench.stages.io.encode(bench.seizure(busy))  # a record of the usual size
    entries = {
        f"NCEN:BENCH-{n:08d}": (bench.seizures[0].envelope.ingest_time, encoded)
        for n in range(size)
    }
    whole = dump_entries(entries)
    started = time.perf_counter()
    dump_entries(load_entries(whole))
    before_s = time.perf_counter() - started
    group = f"CONTAINER_NUMBER:{busy}".encode()
    sweeps = await _sweeps(
        bench,
        lambda pending: bench.tables.sweep(
            bench.window, pending, partition_of(group, 12), bench.stages.watermark
        ),
        bench.tables.seen,
        partition_of(group, 12),
    )
    alert = bench.alert_on(busy)
    alert_s = await bench.probe(alert, busy)
    met = len(bench.tables.memory(bench.window, group))
    fresh_ms, busy_ms = _ms(fresh), _ms(crowded)
    return {
        "records_under_identifier": size,
        "probe_fresh": fresh_ms,
        "probe_busy": busy_ms,
        "busy_over_fresh_p50": round(busy_ms["p50_ms"] / fresh_ms["p50_ms"], 2),
        "largest_changelog_value_bytes": bench.largest,
        "before_rows_probe_ms": round(before_s * 1000, 2),
        "before_rows_value_bytes": len(whole),
        "filing_at_recovery_ms": round(filing_s * 1000, 1),
        "longest_sweep_ms": sweeps["longest_ms"],
        "alert_on_busy_ms": round(alert_s * 1000, 1),
        "alert_hits_remembered": met,
    }


async def _sweeps(
    bench: _Bench, sweep: Callable[[Pending], None], table: Any, partition: int
) -> dict[str, Any]:
    """Sweeps of ``partition``, each written and confirmed as the stage's are, until the
    table's expiry holds nothing unfiled for it: how many, the longest (each blocks the
    stage's loop) and the keys they deleted."""
    longest, count, deleted = 0.0, 0, 0
    while True:
        pending = Pending(_Item(partition))  # type: ignore[arg-type]
        started = time.perf_counter()
        sweep(pending)
        longest = max(longest, time.perf_counter() - started)
        count += 1
        deleted += sum(1 for _, _, value in pending.writes if value is None)
        await bench.window.submit(pending)
        for _ in range(3):
            await asyncio.sleep(0)
            bench.confirm()
        await asyncio.sleep(0.01)
        bench.confirm()
        if not table.expiry.pending(partition):
            return {"sweeps": count, "longest_ms": round(longest * 1000, 2), "deleted": deleted}


async def _versions(bench: _Bench, keys: int) -> dict[str, Any]:
    """The versions table at ``keys`` keys over its 12 partitions, as recovered: the
    sweeps of one partition until every key is filed, one sweep once one key in a hundred
    is past the replay window, and what a sweep cost before the expiry index (every key
    of the table hashed to find its partition's, each of those read)."""
    stages = bench.stages
    now = bench.seizures[0].envelope.ingest_time
    batch = []
    for n in range(keys):
        key = f"NCEN:BENCH-V-{n:09d}".encode()
        old = n % 100 == 0
        seen = now - stages.replay_window - timedelta(hours=1) if old else now
        value = dump_record_state(RecordState(1, str(uuid.UUID(int=n)), seen, (1,), None))
        message = type("M", (), {"partition": partition_of(key, 12), "value": value})()
        batch.append(_Recovered(key, value, message))
    started = time.perf_counter()
    stages.versions.apply_changelog_batch(batch)
    recovered_s = time.perf_counter() - started
    del batch
    filing_s = await _recovered(stages.versions)
    stages.watermark = now
    horizon = now - stages.replay_window
    partition = 3

    def sweep(pending: Pending) -> None:
        stages._sweep(stages.versions, partition, _versions_expired, horizon, bench.window, pending)

    started = time.perf_counter()
    before = [
        k
        for k, v in stages.versions.data.items()
        if partition_of(k, 12) == partition and _versions_expired(v, horizon)
    ]
    before_s = time.perf_counter() - started
    filing = await _sweeps(bench, sweep, stages.versions, partition)
    return {
        "keys": keys,
        "recovery_apply_s": round(recovered_s, 2),
        "filing_at_recovery_s": round(filing_s, 2),
        "sweeps_until_filed": filing["sweeps"],
        "longest_sweep_ms": filing["longest_ms"],
        "deleted_by_them": filing["deleted"],
        "before_index_sweep_ms": round(before_s * 1000, 1),
        "before_index_found": len(before),
    }


def run(
    sizes: list[int], keys: int, out: Path | None, say: Callable[[str], None] = print
) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("bench-state", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        bench = _Bench(app)

        async def main() -> dict[str, Any]:
            bench.window.start()
            try:
                identifiers = [await _size(bench, size) for size in sizes]
                return {"identifiers": identifiers, "versions": await _versions(bench, keys)}
            finally:
                await bench.window.stop()

        result = loop.run_until_complete(main())
    finally:
        loop.close()
    for f in result["identifiers"]:
        say(
            f"{f['records_under_identifier']:>8} records under one identifier: probe p50 "
            f"{f['probe_busy']['p50_ms']} ms busy / {f['probe_fresh']['p50_ms']} ms fresh "
            f"({f['busy_over_fresh_p50']}x), p99 {f['probe_busy']['p99_ms']} / "
            f"{f['probe_fresh']['p99_ms']} ms; largest value written "
            f"{f['largest_changelog_value_bytes']:,} B (before rows: "
            f"{f['before_rows_value_bytes']:,} B, {f['before_rows_probe_ms']} ms a probe); "
            f"filed at recovery in {f['filing_at_recovery_ms']} ms, then the longest sweep "
            f"{f['longest_sweep_ms']} ms; an alert on it {f['alert_on_busy_ms']} ms, "
            f"{f['alert_hits_remembered']} hits"
        )
    v = result["versions"]
    say(
        f"versions table at {v['keys']:,} keys: filed at the end of recovery in "
        f"{v['filing_at_recovery_s']} s (applying the changelog took {v['recovery_apply_s']} s);"
        f" {v['sweeps_until_filed']} sweep(s) of one partition, the longest "
        f"{v['longest_sweep_ms']} ms, deleting {v['deleted_by_them']} of the "
        f"{v['before_index_found']} due; a sweep before the index {v['before_index_sweep_ms']} ms"
    )
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__)
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="records under one identifier, comma-separated"
    )
    parser.add_argument(
        "--keys", type=int, default=1_000_000, help="keys in the versions table (%(default)s)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    run([int(s) for s in args.sizes.split(",") if s.strip()], args.keys, args.json)


if __name__ == "__main__":
    main()
