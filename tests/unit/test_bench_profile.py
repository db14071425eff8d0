"""The profile summary gives each part of the work its own time, helpers to their callers."""

from __future__ import annotations

import cProfile
import json
from pathlib import Path

import pytest

from bench.profile import part_of, summarise
from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from stack.synthetic.generator import TrafficGenerator


def test_encoding_shows_as_avro_encode_and_decoding_as_avro_decode(tmp_path: Path) -> None:
    codec = AvroCodec(EVENT)
    records = [r for r in TrafficGenerator(seed=3).take(60) if r.event is not None]
    values = [codec.decode(r.value) for r in records]

    def work() -> None:
        for _ in range(20):
            for value in values:
                codec.encode(value)
        for record in records:
            codec.decode(record.value)
        json.dumps([str(v["envelope"]["event_id"]) for v in values])  # a helper, no part

    profiler = cProfile.Profile()
    profiler.runcall(work)
    path = tmp_path / "work.prof"
    profiler.dump_stats(path)

    summary = summarise(path, events=len(records))
    parts = {p["part"]: p for p in summary["parts"]}
    # Twenty encodes per decode: encoding takes the larger share, and both are there.
    assert parts["Avro encode"]["seconds"] > parts["Avro decode"]["seconds"] > 0
    assert max(summary["parts"], key=lambda p: p["seconds"])["part"] == "Avro encode"
    assert sum(p["seconds"] for p in parts.values()) == pytest.approx(
        summary["profiled_seconds"], abs=0.001 * len(parts)
    )
    expected = parts["Avro encode"]["seconds"] / len(records) * 1e6
    assert parts["Avro encode"]["us_per_event"] == pytest.approx(expected, rel=1e-2)


@pytest.mark.parametrize(
    ("func", "part"),
    [
        (("/x/liaison/avro/codec.py", 79, "encode"), "Avro encode"),
        (("/x/liaison/avro/codec.py", 104, "decode_with_writer"), "Avro decode"),
        (("/x/site-packages/faust/streams.py", 1, "_c_aiter"), "Faust"),
        (("/x/site-packages/aiokafka/producer/producer.py", 1, "send"), "Kafka client (aiokafka)"),
        (("~", 0, "<method 'poll' of 'select.epoll' objects>"), "waiting for the network"),
        (("/x/pipelines/route/decide.py", 1, "_strip"), "route"),
        (("~", 0, "<built-in method builtins.isinstance>"), None),
    ],
)
def test_functions_are_told_apart_by_where_they_live(func, part) -> None:
    assert part_of(func) == part
