from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.sweep import Expiry, Sweeper, partition_of

PARTITIONS = list(range(12))


def test_partition_of_agrees_with_aiokafka():
    for i in range(200):
        key = f"CEN:CEN-2026-{i:07d}".encode()
        assert partition_of(key, 12) == DefaultPartitioner()(key, PARTITIONS, PARTITIONS)


def test_a_sweep_is_due_every_n_events_per_partition():
    sweeper = Sweeper(every=3)
    assert [sweeper.due(0) for _ in range(7)] == [False, False, True, False, False, True, False]
    assert sweeper.due(1) is False


_EPOCH = datetime(2026, 12, 1, tzinfo=UTC)


def _deadline(_key: bytes, value: bytes) -> datetime | None:
    return None if value == b"never" else _EPOCH + timedelta(seconds=int(value))


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 30), st.integers(0, 3600)),
        st.tuples(st.just("never"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("delete"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("sweep"), st.just(0), st.integers(0, 900)),
    ),
    max_size=80,
)


@settings(max_examples=300)
@given(_OPS, st.integers(1, 8), st.integers(1, 8))
def test_an_expiry_sweep_finds_every_entry_due_and_nothing_early(ops, index_limit, due_limit):
    expiry = Expiry(_deadline, index_limit=index_limit, due_limit=due_limit)
    table: dict[bytes, bytes] = {}
    now = _EPOCH

    def sweep() -> None:
        for key in expiry.due(0, now, table.get):
            deadline = _deadline(key, table[key])
            assert deadline is not None
            assert deadline <= now  # never early
            del table[key]  # the stage's rule agrees: deleted
            expiry.touched(key, 0)

    for op, number, amount in ops:
        key = f"k{number}".encode()
        if op == "sweep":
            now += timedelta(seconds=amount)
            sweep()
        elif op == "delete":
            table.pop(key, None)
            expiry.touched(key, 0)
        else:
            table[key] = b"never" if op == "never" else str(amount).encode()
            expiry.touched(key, 0)
    # Swept often enough, nothing due by a whole minute is left.
    for _ in range(len(table) + 40):
        sweep()
    for key, value in table.items():
        deadline = _deadline(key, value)
        assert deadline is None or deadline > now - timedelta(seconds=60), key


def test_an_expiry_keeps_each_partition_apart():
    expiry = Expiry(_deadline)
    values = {b"a": b"0", b"b": b"0"}
    expiry.touched(b"a", 1)
    expiry.touched(b"b", 2)
    later = _EPOCH + timedelta(hours=1)
    assert expiry.due(1, later, values.get) == [b"a"]
    assert expiry.due(2, later, values.get) == [b"b"]
    expiry.touched(b"a", 1)
    expiry.forget([1])
    assert expiry.due(1, later, values.get) == []


def test_an_entry_written_again_falls_due_by_its_new_value_only():
    expiry = Expiry(_deadline)
    table = {b"k": b"60"}
    expiry.touched(b"k", 0)
    assert expiry.due(0, _EPOCH, table.get) == []  # filed under its first deadline
    table[b"k"] = b"3600"  # written again, with a later one
    expiry.touched(b"k", 0)
    assert expiry.due(0, _EPOCH + timedelta(minutes=5), table.get) == []  # not unfiled yet
    assert expiry.due(0, _EPOCH + timedelta(minutes=5), table.get) == []  # the old filing
    assert expiry.due(0, _EPOCH + timedelta(minutes=61), table.get) == [b"k"]


def test_an_entry_written_after_it_was_filed_waits_for_its_new_filing():
    expiry = Expiry(_deadline, index_limit=1)
    table = {b"k": b"60", b"other": b"7200"}
    expiry.touched(b"k", 0)
    assert expiry.due(0, _EPOCH, table.get) == []  # k filed under minute 1
    table[b"k"] = b"3600"
    expiry.touched(b"other", 0)
    expiry.touched(b"k", 0)  # unfiled again, behind another key
    # Minute 1 has passed: k's old filing is not taken while it waits to be filed again.
    assert expiry.due(0, _EPOCH + timedelta(minutes=5), table.get) == []
