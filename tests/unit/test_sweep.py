from aiokafka.partitioner import DefaultPartitioner

from pipelines.sweep import Sweeper, expired_keys, partition_of

PARTITIONS = list(range(12))


def test_partition_of_agrees_with_aiokafka():
    for i in range(200):
        key = f"CEN:CEN-2026-{i:07d}".encode()
        assert partition_of(key, 12) == DefaultPartitioner()(key, PARTITIONS, PARTITIONS)


def test_only_expired_keys_of_the_current_partition_are_swept():
    items = [(f"k{i}".encode(), b"old" if i % 2 else b"new") for i in range(100)]
    for partition in range(12):
        swept = expired_keys(items, partition, 12, lambda value: value == b"old")
        assert all(partition_of(k, 12) == partition for k in swept)
        assert all(dict(items)[k] == b"old" for k in swept)
        assert set(swept) == {
            k for k, v in items if v == b"old" and partition_of(k, 12) == partition
        }


def test_a_sweep_is_due_every_n_events_per_partition():
    sweeper = Sweeper(every=3)
    assert [sweeper.due(0) for _ in range(7)] == [False, False, True, False, False, True, False]
    assert sweeper.due(1) is False
