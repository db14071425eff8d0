"""``python -m bench`` (what ``make bench`` runs): Liaison against the raw floor and a peer.

The benchmark is not part of the shipped package, so it is not a ``liaison`` subcommand;
run it from the repository root with the project's environment.
"""

from __future__ import annotations

from pathlib import Path

import click

from bench.runner import BenchOptions, run_bench
from liaison.command import reported
from liaison.settings import load_settings


@click.command()
@click.option("--events", type=click.IntRange(min=100), default=20_000, show_default=True)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option(
    "--latency-rate",
    type=click.FloatRange(min=1),
    default=None,
    help="Records/s offered for the latency pass (default: half of one worker's throughput).",
)
@click.option("--latency-events", type=click.IntRange(min=100), default=5_000, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-results"),
    show_default=True,
)
@click.option(
    "--peer-python",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The Quix Streams peer's Python (make bench-peer sets one up in bench/.venv-quix).",
)
@click.option(
    "--profile",
    is_flag=True,
    help="Also drain the workload once more under cProfile (untimed); summarise where time goes.",
)
@click.option(
    "--only",
    "systems",
    multiple=True,
    type=click.Choice(["floor", "liaison-1-worker", "liaison-2-workers", "quix-streams"]),
    help="Measure only this system (repeatable); all by default.",
)
@reported
def bench(  # noqa: PLR0917 - one per option
    events: int,
    seed: int,
    latency_rate: float | None,
    latency_events: int,
    out_dir: Path,
    peer_python: Path | None,
    profile: bool,
    systems: tuple[str, ...],
) -> None:
    """Benchmark Liaison against the raw floor (and a peer) on the embedded broker."""
    options = BenchOptions(
        events=events,
        seed=seed,
        latency_rate=latency_rate,
        latency_events=min(latency_events, events),
        out_dir=out_dir,
        peer_python=peer_python,
        profile=profile,
        systems=systems,
    )
    run_bench(load_settings(), options, click.echo)


if __name__ == "__main__":
    bench(prog_name="python -m bench")
