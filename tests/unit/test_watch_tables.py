"""The watch stage's rows: state of the layout before rows is split into rows the first time
it is met, and the sweep deletes exactly the rows past their time. Driven through the real
in-flight window and Faust tables, without a broker (nothing is sent)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import faust
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.identity import record_key
from liaison.model.common import SourceSystem
from liaison.model.police import AlertType, IdentifierKind, PoliceAlert, WatchedItem
from liaison.policy import load_policy
from pipelines.enrich.memory import Remembered, dump_memory
from pipelines.enrich.tables import WatchTables
from pipelines.route.decide import keep_until
from pipelines.state import WatchRow, dump_entries, dump_watch_row, load_watch_row
from pipelines.sweep import Expiry, partition_of
from pipelines.window import GroupedTable, InFlight, Pending, row_key
from tests.samples import realistic_seizure
from tests.unit.test_window import _grouped, _Item, _Source

POLICY = load_policy()
GROUP = b"CONTAINER_NUMBER:MSKU9070323"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


def _codec():
    """A stand-in for the Avro codec: events kept by id, the id as the bytes."""
    kept = {}

    def encode(event):
        kept[str(event.envelope.event_id)] = event
        return str(event.envelope.event_id).encode()

    return encode, lambda data: kept[data.decode()]


def _seizure(number: int, at: datetime):
    event = realistic_seizure()
    envelope = dataclasses.replace(
        event.envelope,
        event_id=uuid.uuid4(),
        source_record_id=f"NL-NCEN-2026-{number:06d}",
        ingest_time=at,
        handling=dataclasses.replace(event.envelope.handling, retention_until=None),
    )
    return dataclasses.replace(event, envelope=envelope)


def _alert(number: int, at: datetime, valid_until: date | None):
    event = realistic_seizure()
    envelope = dataclasses.replace(
        event.envelope,
        event_id=uuid.uuid4(),
        source_system=SourceSystem.POLICE,
        source_record_id=f"DE-ALERT-{number}",
        ingest_time=at,
        handling=dataclasses.replace(event.envelope.handling, retention_until=None),
    )
    payload = PoliceAlert(
        alert_type=AlertType.STOLEN_VEHICLE,
        alert_reference=f"SMV-{number}",
        issuing_country="DE",
        issuing_agency="DE police",
        items=(WatchedItem(kind=IdentifierKind.CONTAINER_NUMBER, identifier="MSKU9070323"),),
        valid_until=valid_until,
    )
    return dataclasses.replace(event, envelope=envelope, payload=payload)


class _Setup:
    def __init__(self, app: faust.App, window: timedelta) -> None:
        self.encode, decode = _codec()
        made: list[GroupedTable] = []

        def make(spec, deadline):
            made.append(_grouped(app, spec.name.replace(".", "-"), Expiry(deadline)))
            return made[-1]

        self.watch = WatchTables(POLICY, decode, window, make)
        self.tables = dict(zip(("alerts", "seen", "hits"), made, strict=True))
        self.window = InFlight(_Source(app))  # type: ignore[arg-type]

    async def step(self, work) -> None:
        # As the stage: the identifier's events come from the partition its key gives.
        pending = Pending(_Item(partition_of(GROUP, 12)))  # type: ignore[arg-type]
        work(pending)
        await self.window.submit(pending)
        await asyncio.sleep(0.01)


def _run(scenario, window: timedelta = WINDOW) -> None:
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("watch-tables", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        setup = _Setup(app, window)

        async def main() -> None:
            setup.window.start()
            try:
                await scenario(setup)
            finally:
                await setup.window.stop()

        loop.run_until_complete(main())
    finally:
        loop.close()


def test_a_whole_identifier_of_the_layout_before_rows_is_split_into_rows():
    seizures = [_seizure(n, T0 + timedelta(minutes=n)) for n in range(3)]
    alert = _alert(1, T0 - timedelta(days=1), None)

    async def scenario(s: _Setup) -> None:
        window, seen = s.window, s.tables["seen"]

        def legacy(pending):
            entries = {record_key(e): (e.envelope.ingest_time, s.encode(e)) for e in seizures}
            window.set(pending, seen, GROUP, dump_entries(entries))
            alerts = {record_key(alert): (alert.envelope.ingest_time, s.encode(alert))}
            window.set(pending, s.tables["alerts"], GROUP, dump_entries(alerts))
            memory = {"HIT-1": Remembered(("a", "b"), date(2027, 1, 1), b"hit")}
            window.set(pending, s.tables["hits"], GROUP, dump_memory(memory))

        await s.step(legacy)
        await s.step(lambda pending: s.watch.split(window, pending, GROUP))

        assert window.get(seen, GROUP) is None  # the whole value is gone...
        rows = window.group(seen, GROUP)
        assert set(rows) == {record_key(e).encode() for e in seizures}  # ...each record a row
        for event in seizures:
            row = load_watch_row(rows[record_key(event).encode()])
            assert (row.seen_at, row.encoded) == (event.envelope.ingest_time, s.encode(event))
            assert row.until == keep_until(event, POLICY)
        assert s.watch.entries(window, s.tables["alerts"], GROUP) == {
            record_key(alert): (alert.envelope.ingest_time, s.encode(alert))
        }
        assert set(s.watch.memory(window, GROUP)) == {"HIT-1"}
        assert window.get(s.tables["hits"], GROUP) is None

    _run(scenario)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=6),  # days after T0 each seizure came
    st.lists(st.one_of(st.none(), st.integers(-5, 40)), min_size=1, max_size=4),  # validity
    st.integers(0, 90),  # days after T0 the sweep runs
)
def test_a_sweep_deletes_exactly_the_rows_past_their_time(arrivals, validities, now_days):
    seizures = [_seizure(n, T0 + timedelta(days=d)) for n, d in enumerate(arrivals)]
    alerts = [
        _alert(n, T0, None if v is None else (T0 + timedelta(days=v)).date())
        for n, v in enumerate(validities)
    ]
    watermark = T0 + timedelta(days=now_days)
    today = watermark.date()

    async def scenario(s: _Setup) -> None:
        window = s.window

        def probes(pending):
            for event in [*seizures, *alerts]:
                after = {record_key(event): (event.envelope.ingest_time, s.encode(event))}
                s.watch.keep(window, pending, event, GROUP, after)

        await s.step(probes)
        here = partition_of(GROUP, 12)
        await s.step(lambda pending: s.watch.sweep(window, pending, here, watermark))

        seen = s.watch.entries(window, s.tables["seen"], GROUP)
        assert set(seen) == {
            record_key(e)
            for e in seizures
            if e.envelope.ingest_time >= watermark - WINDOW and keep_until(e, POLICY) >= today
        }
        standing = s.watch.entries(window, s.tables["alerts"], GROUP)
        assert set(standing) == {
            record_key(a)
            for a in alerts
            if keep_until(a, POLICY) >= today
            and (a.payload.valid_until is None or a.payload.valid_until >= today)
        }

    _run(scenario)


def test_rows_of_a_group_are_swept_only_with_their_partition():
    other = next(p for p in range(12) if p != partition_of(GROUP, 12))
    old = _seizure(1, T0)

    async def scenario(s: _Setup) -> None:
        window = s.window

        def probe(pending):
            after = {record_key(old): (old.envelope.ingest_time, s.encode(old))}
            s.watch.keep(window, pending, old, GROUP, after)

        await s.step(probe)
        late = T0 + timedelta(days=365)
        await s.step(lambda pending: s.watch.sweep(window, pending, other, late))
        assert set(window.group(s.tables["seen"], GROUP)) == {record_key(old).encode()}
        here = partition_of(GROUP, 12)
        await s.step(lambda pending: s.watch.sweep(window, pending, here, late))
        assert window.group(s.tables["seen"], GROUP) == {}

    _run(scenario)


def test_row_keys_put_the_record_after_the_identifier():
    assert row_key(GROUP, b"NCEN:NL-1") == GROUP + b"\x00" + b"NCEN:NL-1"


def test_a_row_judged_under_another_policy_is_judged_again():
    # Both rows claim to be kept for ever; only the one judged under the policy in force
    # is taken at its word, the other is judged again and its retention has ended.
    trusted, stale = _seizure(1, T0), _seizure(2, T0)
    late = datetime.combine(keep_until(stale, POLICY) + timedelta(days=1), T0.timetz())

    async def scenario(s: _Setup) -> None:
        window, seen = s.window, s.tables["seen"]

        def rows(pending):
            for event, digest in ((trusted, POLICY.digest), (stale, "an earlier policy")):
                row = WatchRow(event.envelope.ingest_time, s.encode(event), date.max, digest)
                key = row_key(GROUP, record_key(event).encode())
                window.set(pending, seen, key, dump_watch_row(row))

        await s.step(rows)
        here = partition_of(GROUP, 12)
        await s.step(lambda pending: s.watch.sweep(window, pending, here, late))
        assert set(window.group(seen, GROUP)) == {record_key(trusted).encode()}

    _run(scenario, late - T0)
