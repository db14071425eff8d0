"""The benchmark's figures: percentiles, the deliveries compared, the report, its table
and its chart."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from confluent_kafka import libversion

from bench.options import BenchOptions, SystemResult
from liaison.kafka.jars import KAFKA_VERSION

__all__ = ["agreement", "chart", "machine", "percentile", "report", "table", "versions"]


def percentile(ordered: Sequence[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return float(ordered[index])


def agreement(deliveries: dict[str, frozenset[tuple[str, str]]]) -> dict[str, Any]:
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


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": model, "platform": platform.platform()}


def versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "kafka": KAFKA_VERSION}
    versions["librdkafka"] = libversion()[0]
    for package in ("confluent-kafka", "faust-streaming", "aiokafka", "fastavro"):
        versions[package] = metadata.version(package)
    return versions


def report(
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
        "machine": machine(),
        "versions": versions(),
        "systems": systems,
        "ratios": ratios,
        "deliveries_agree": agreement,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(report: dict[str, Any]) -> list[str]:
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


def chart(results: dict[str, SystemResult], path: Path) -> Path | None:
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
