"""The worker's watchdog: which partitions it calls stalled, and how it repairs them."""

from __future__ import annotations

import asyncio

from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from pipelines.watchdog import STAGE_PATIENCE, Repair, Stall, View, Watchdog, views_of

TP0 = TP("liaison.ingest.cen", 0)
STALL_S = 60.0


def _run(watchdog: Watchdog, views: list[View], step_s: float = 5.0) -> list[list[Stall]]:
    """Check one partition once per step with each view in turn; the stalls found each time."""
    return [watchdog.check({TP0: view}, n * step_s) for n, view in enumerate(views)]


def test_a_wedged_commit_is_sought_back_then_ends_the_worker():
    # Work acknowledged up to 140 while the commit stays at 100 (a gap at 100).
    wedged = View(committed=100, acked=140, read=140, highwater=141)
    found = _run(Watchdog(STALL_S), [wedged] * 40)
    stalls = [s for checks in found for s in checks]
    assert [(s.kind, s.repair, s.seek_to) for s in stalls[:2]] == [
        ("commit", Repair.SEEK, 100),
        ("commit", Repair.RESTART, 100),
    ]
    assert stalls[0].for_s >= STALL_S


def test_a_partition_that_is_not_fetched_is_sought_to_its_next_offset():
    # Records wait past 57, and nothing new is handed to the stream.
    idle = View(committed=58, acked=None, read=57, highwater=90)
    stalls = [s for checks in _run(Watchdog(STALL_S), [idle] * 14) for s in checks]
    assert [(s.kind, s.repair, s.seek_to) for s in stalls] == [("fetch", Repair.SEEK, 58)]


def test_a_quiet_partition_is_not_stalled():
    # Everything read and committed: nothing waits, however long it stays so.
    done = View(committed=58, acked=None, read=57, highwater=58)
    assert not any(_run(Watchdog(STALL_S), [done] * 100))
    # Never read, nothing written: neither.
    empty = View(committed=None, acked=None, read=None, highwater=0)
    assert not any(_run(Watchdog(STALL_S), [empty] * 100))


def test_progress_after_a_seek_makes_the_next_stall_a_seek_again():
    wedged = View(committed=100, acked=140, read=140, highwater=141)
    moved = View(committed=141, acked=180, read=180, highwater=181)
    stalls = [s for checks in _run(Watchdog(STALL_S), [wedged] * 14 + [moved] * 14) for s in checks]
    assert [s.repair for s in stalls] == [Repair.SEEK, Repair.SEEK]


def test_a_rebalance_starts_the_clocks_over():
    watchdog = Watchdog(STALL_S)
    wedged = View(committed=100, acked=140, read=140, highwater=141)
    now = 0.0
    for _ in range(30):  # always paused before the stall time is reached
        assert watchdog.check({TP0: wedged}, now) == []
        now += 5.0
        if now % 50 == 0:
            watchdog.pause(now)


def test_a_revoked_partition_is_forgotten():
    watchdog = Watchdog(STALL_S)
    wedged = View(committed=100, acked=140, read=140, highwater=141)
    watchdog.check({TP0: wedged}, 0.0)
    watchdog.check({}, 30.0)  # revoked
    assert watchdog.check({TP0: wedged}, 65.0) == []  # assigned again: a new clock


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
        min_size=1,
        max_size=60,
    )
)
def test_a_partition_that_keeps_moving_is_never_stalled(steps):
    """Whatever it reads and acknowledges, a partition whose commit and read offsets move
    at least every stall time is never repaired."""
    watchdog = Watchdog(STALL_S)
    committed = read = 0
    for n, (commit_step, read_step, waiting) in enumerate(steps):
        committed += commit_step + 1  # moves at each check, 5 s apart
        read = max(read + read_step + 1, committed - 1)
        view = View(committed=committed, acked=read, read=read, highwater=read + 1 + waiting)
        assert watchdog.check({TP0: view}, n * 5.0) == []


class _NeverFetched:
    """A consumer as the watchdog reads it, holding one partition it has never fetched:
    no highwater is known from a fetch, while the broker's log holds ``end`` records."""

    def __init__(self, committed: int | None, end: int) -> None:
        self._committed_offset = {TP0: committed}
        self._acked: dict[TP, list[int]] = {}
        self._read_offset: dict[TP, int] = {}
        self.end = end
        self.asked: list[tuple[TP, ...]] = []

    def assignment(self) -> set[TP]:
        return {TP0}

    def highwater(self, tp: TP) -> int:
        raise KeyError(tp)  # aiokafka: no fetch has told it yet

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        self.asked.append(tps)
        return dict.fromkeys(tps, self.end)


@given(committed=st.one_of(st.none(), st.integers(0, 10**6)), waiting=st.integers(1, 1000))
def test_a_partition_never_fetched_is_noticed(committed, waiting):
    # Faust can leave a partition assigned and never fetched (#629): nothing was ever read,
    # so no fetch told the consumer how far its log goes; the broker must be asked.
    consumer = _NeverFetched(committed, end=(committed or 0) + waiting)
    watchdog = Watchdog(STALL_S)
    stalls = []
    for n in range(14):
        views = asyncio.run(views_of(consumer, {TP0.topic}))
        stalls += watchdog.check(views, n * 5.0)
    assert [(s.kind, s.repair, s.seek_to) for s in stalls] == [
        ("fetch", Repair.SEEK, committed or 0)
    ]
    assert all(asked == (TP0,) for asked in consumer.asked)


@given(
    committed=st.integers(0, 10**6),
    read_from=st.integers(-20, 20),
    waiting=st.integers(1, 500),
)
def test_a_fetch_repair_never_seeks_past_the_committed_offset(committed, read_from, waiting):
    # Faust's read offset is the last record handed over in one place and the next one to
    # read in another (after its seek to the commits): a seek to "read + 1" can land one
    # past the committed record, never done, and the commit then waits there for good.
    # The commit is where a restart would read from: the repair reads from there too.
    read = max(committed + read_from, 0)
    idle = View(
        committed=committed, acked=None, read=read, highwater=max(read + 1, committed) + waiting
    )
    stalls = [s for checks in _run(Watchdog(STALL_S), [idle] * 14) for s in checks]
    assert stalls
    assert stalls[0].kind == "fetch"
    assert stalls[0].seek_to == committed


def test_a_partition_still_unread_after_its_seek_gets_longer_before_a_restart():
    # A backlogged worker leaves partitions unread for a while as it works through others,
    # which a seek does not change; a restart (its tables recovered again) makes the
    # backlog worse. A commit stalled again is restarted after STALL_S; a fetch, later.
    idle = View(committed=58, acked=None, read=57, highwater=90)
    found = _run(Watchdog(STALL_S), [idle] * 60)
    at = [(n * 5.0, s.repair) for n, checks in enumerate(found) for s in checks]
    assert at[0] == (STALL_S, Repair.SEEK)
    assert at[1] == (STALL_S + 3 * STALL_S, Repair.RESTART)
    wedged = View(committed=100, acked=140, read=140, highwater=141)
    found = _run(Watchdog(STALL_S), [wedged] * 40)
    assert [(n * 5.0, s.repair) for n, checks in enumerate(found) for s in checks][:2] == [
        (STALL_S, Repair.SEEK),
        (2 * STALL_S, Repair.RESTART),
    ]


TP1 = TP("liaison.ingest.cen", 1)


def test_a_partition_waiting_its_turn_in_a_backlogged_stage_is_not_stalled():
    # After a seek to 569 the record there was handed to the stream (read 569), and the
    # acknowledgements up to 594 are from before the seek. The stage holds 300 events of
    # the topic (queued and in flight) and works through them: the record at 569 waits
    # its turn. Neither a seek (more to do again) nor a restart helps a backlog.
    behind = View(committed=569, acked=594, read=569, highwater=619)
    not_read = View(committed=900, acked=None, read=899, highwater=990)  # back-pressure
    watchdog = Watchdog(STALL_S)
    for n in range(60):
        moving = View(committed=1000 + n, acked=1010 + n, read=1010 + n, highwater=3000)
        views = {TP0: behind, TP1: moving, TP("liaison.ingest.cen", 2): not_read}
        assert watchdog.check(views, n * 5.0, waiting={TP0.topic: 300}) == []


def test_a_wedge_behind_a_backlog_is_found_once_the_stage_has_worked_through_it():
    wedged = View(committed=100, acked=140, read=140, highwater=141)
    watchdog = Watchdog(STALL_S)
    found = []
    for n in range(40):
        waiting = 250 if n < 20 else 0  # last seen with a backlog at 95 s
        found += [
            (n * 5.0, s.kind, s.repair)
            for s in watchdog.check({TP0: wedged}, n * 5.0, waiting={TP0.topic: waiting})
        ]
    assert found[0] == (95.0 + STALL_S, "commit", Repair.SEEK)


def test_a_stage_that_holds_work_and_acknowledges_nothing_ends_the_worker():
    # Events queued and in flight, and for STAGE_PATIENCE stall times not one of the
    # topic's partitions commits or acknowledges anything: the stage itself is stuck.
    stuck = {
        TP0: View(committed=100, acked=140, read=160, highwater=400),
        TP1: View(committed=50, acked=None, read=70, highwater=300),
    }
    watchdog = Watchdog(STALL_S)
    found = [
        (n * 5.0, s)
        for n in range(80)
        for s in watchdog.check(stuck, n * 5.0, waiting={TP0.topic: 40})
    ]
    assert [(at, s.kind, s.repair) for at, s in found][:1] == [
        (STAGE_PATIENCE * STALL_S, "stage", Repair.RESTART)
    ]
    assert len({s.tp.topic for _, s in found if s.kind == "stage"}) == 1


@given(st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=1, max_size=80))
def test_only_a_stage_that_stops_acknowledging_is_repaired_while_it_holds_work(steps):
    """While the stage holds work and acknowledges something at least every stall time, no
    partition of its topic is repaired, however still one of them stands."""
    watchdog = Watchdog(STALL_S)
    acked, since = 0, 0.0
    for n, (waiting, progress) in enumerate(steps):
        now = n * 5.0
        if progress or now - since >= STALL_S - 5.0:
            acked, since = acked + 1, now
        views = {
            TP0: View(committed=10, acked=30, read=30, highwater=90),
            TP1: View(committed=100, acked=100 + acked, read=200, highwater=400),
        }
        stalls = watchdog.check(views, now, waiting={TP0.topic: waiting + 1})
        assert stalls == [], (n, stalls)
