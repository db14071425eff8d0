"""The benchmark, small: every system on one workload, the same deliveries, every figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.runner import BenchOptions, run_bench
from liaison.settings import load_settings

pytestmark = pytest.mark.integration

PEER_PYTHON = Path(__file__).resolve().parents[2] / "bench" / ".venv-quix" / "bin" / "python"
SYSTEMS = {"floor", "liaison-1-worker", "liaison-2-workers", "quix-streams"}


@pytest.mark.timeout(1200)
def test_every_system_drains_the_workload_with_the_same_deliveries(tmp_path: Path) -> None:
    assert PEER_PYTHON.exists(), "make bench-peer sets up the peer's environment"
    settings = load_settings({}, state_dir=tmp_path / "state", kafka_heap_mb=384)
    options = BenchOptions(
        events=400,
        latency_events=150,
        latency_rate=40.0,
        out_dir=tmp_path / "out",
        peer_python=PEER_PYTHON,
        profile=True,
    )
    lines: list[str] = []
    report = run_bench(settings, options, lines.append)

    # The JSON on disk is the report returned, and names every system.
    written = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert written == json.loads(json.dumps(report))
    systems = written["systems"]
    assert set(systems) == SYSTEMS

    # The peer made exactly Liaison's partner deliveries, and any difference is explained.
    # (Two workers are compared and reported too, not asserted: see README, Performance.)
    agreement = written["deliveries_agree"]
    assert set(agreement) == SYSTEMS - {"floor"}
    assert agreement["quix-streams"]["same_as_liaison"], agreement
    assert systems["liaison-1-worker"]["deliveries"] > 0
    assert systems["liaison-2-workers"]["deliveries"] > 0
    diff = tmp_path / "out" / "deliveries-diff.json"
    differing = {n for n, verdict in agreement.items() if not verdict["same_as_liaison"]}
    assert set(json.loads(diff.read_text())) == differing

    for name, figures in systems.items():
        assert figures["events"] == 400
        assert figures["throughput"] > 0, name
        assert all(rss > 0 for rss in figures["peak_rss_bytes"].values()), name
        assert len(figures["peak_rss_bytes"]) == (2 if name == "liaison-2-workers" else 1)
    for name in SYSTEMS - {"liaison-2-workers"}:
        latency = systems[name]["latency_ms"]
        assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"], name
        assert latency["rate"] == 40.0
    # The stateful systems keep state on disk; the floor keeps none.
    assert systems["liaison-1-worker"]["state_bytes"] > 0
    assert systems["quix-streams"]["state_bytes"] > 0
    assert systems["floor"]["state_bytes"] == 0

    ratios = written["ratios"]
    floor, liaison = systems["floor"], systems["liaison-1-worker"]
    peer = systems["quix-streams"]
    assert ratios["throughput_liaison_over_floor"] == pytest.approx(
        liaison["throughput"] / floor["throughput"]
    )
    assert ratios["throughput_liaison_over_peer"] == pytest.approx(
        liaison["throughput"] / peer["throughput"]
    )
    assert ratios["p99_liaison_over_peer"] == pytest.approx(
        liaison["latency_ms"]["p99"] / peer["latency_ms"]["p99"]
    )
    assert written["machine"]["cores"] >= 1
    assert {"python", "kafka", "librdkafka", "faust-streaming"} <= set(written["versions"])

    # The profile pass accounts for the pipeline's own work as well as the framework's.
    parts = {part["part"]: part for part in written["profile"]["parts"]}
    assert {"Avro decode", "Avro encode", "route", "Faust"} <= set(parts)
    assert sum(p["share"] for p in parts.values()) == pytest.approx(1.0, abs=0.01)

    chart = tmp_path / "out" / "bench.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = "\n".join(lines)
    for name in SYSTEMS:
        assert name in table
