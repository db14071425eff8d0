"""The commands that compose the parts: ``liaison demo``, ``liaison generate`` and
``liaison k8s``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import IO, Any

import click

from liaison.command import current_settings, reported
from liaison.kafka.client import KafkaProducer, producer_config
from liaison.policy import policy_of, policy_path
from stack.kafka import local_bootstrap
from stack.synthetic.generator import Label, TrafficGenerator, TrafficMix
from stack.synthetic.output import produce, write_jsonl

__all__ = ["chaos", "demo", "generate", "k8s"]

# The fault kinds of `liaison chaos` (stack.chaos.KINDS, kept here so --help loads no stack).
CHAOS_KINDS = (
    "leader-kill",
    "controller-kill",
    "broker-hang",
    "worker-kill",
    "worker-term",
    "scale",
    "cen-source-kill",
    "http-source-kill",
    "partner-outage",
)

REPO = Path(__file__).resolve().parents[1]


def _parse_mix(shares: tuple[str, ...]) -> TrafficMix:
    values: dict[str, float] = {}
    names = {f.name for f in dataclasses.fields(TrafficMix) if f.type in (float, "float")}
    for item in shares:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise click.BadParameter(
                f"{item!r}: expected NAME=SHARE with NAME one of {', '.join(sorted(names))}"
            )
        try:
            values[name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {value!r} is not a number") from None
    try:
        return TrafficMix(**values)  # type: ignore[arg-type]  # shares: floats only
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--count", type=click.IntRange(min=1), required=True, help="How many records.")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same records.")
@click.option(
    "--mix",
    "shares",
    multiple=True,
    metavar="NAME=SHARE",
    help="Share of one kind of record, e.g. --mix replay=0.1 (repeatable).",
)
@click.option(
    "--out",
    type=click.File("w"),
    default=None,
    help="Write JSON lines here ('-' for standard output).",
)
@click.option("--kafka", is_flag=True, help="Produce to the ingest topics instead.")
@click.option(
    "--native",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each connector's native input format under this directory instead.",
)
@click.option(
    "--cen-format",
    type=click.Choice(["csv", "xml"]),
    default="csv",
    show_default=True,
    help="With --native: CEN exports as CSV pairs or as XML messages.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Records per second when producing (default: as fast as possible).",
)
@reported
def generate(
    *,
    count: int,
    seed: int,
    shares: tuple[str, ...],
    out: IO[str] | None,
    kafka: bool,
    native: Path | None,
    cen_format: str,
    rate: float | None,
) -> None:
    """Synthetic ingest traffic: seizures, CIS+ records, alerts, and their messiness."""
    if sum((out is not None, kafka, native is not None)) != 1:
        raise click.UsageError("give exactly one of --out, --kafka and --native")
    settings = current_settings()
    generator = TrafficGenerator(seed=seed, mix=_parse_mix(shares))
    records = (generator.next() for _ in range(count))
    if out is not None:
        write_jsonl(records, out, settings.topic_prefix)
    elif native is not None:
        from stack.native import write_native  # noqa: PLC0415 - loads the connectors' formats

        for kind, number in sorted(write_native(records, native, cen_format=cen_format).items()):
            click.echo(f"{number:7d} {kind} records under {native}")
    else:
        config = producer_config(settings, local_bootstrap(settings))
        with KafkaProducer(config) as producer:
            produce(records, producer, settings.topic_prefix, rate)
    report = generator.report()
    to_stderr = out is not None and out.name == "<stdout>"
    click.echo(f"{count} records, seed {seed}:", err=to_stderr)
    for label, share in report.items():
        click.echo(f"  {label:18} {generator.counts[Label(label)]:7d}  {share:6.1%}", err=to_stderr)


@click.command()
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=25.0,
    show_default=True,
    help="Synthetic records the national systems send per second.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Stop once this many events came through.",
)
@click.option(
    "--duration", type=click.FloatRange(min=1), default=None, help="Stop after this many seconds."
)
@click.option(
    "--stay",
    is_flag=True,
    help="With --count: once all went through, keep the stack (and Prometheus) up until Ctrl-C.",
)
@reported
def demo(rate: float, count: int | None, duration: float | None, stay: bool) -> None:
    """Run the local stack with sample traffic until Ctrl-C."""
    from stack.demo import DemoOptions, run_demo  # noqa: PLC0415 - only this command

    options = DemoOptions(rate=rate, count=count, duration_s=duration, stay=stay)
    report = run_demo(current_settings(), options, out=click.echo)
    if report.failed or (count is not None and report.received < count):
        sys.exit(1)


@click.command()
@click.option("--faults", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same faults.")
@click.option(
    "--kinds",
    default=",".join(CHAOS_KINDS),
    show_default=True,
    help="The fault kinds to draw from, comma-separated.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.5),
    default=20.0,
    show_default=True,
    help="Synthetic records sent per second throughout.",
)
@click.option(
    "--short",
    is_flag=True,
    help="Shorter pauses, outages and hangs (the form the test suite runs).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report as JSON here.",
)
@reported
def chaos(**given: Any) -> None:
    """Faults under load on a three-node cluster; every accepted input accounted for."""
    from stack.chaos import ChaosOptions, run_chaos, write_report  # noqa: PLC0415

    chosen = tuple(k.strip() for k in str(given["kinds"]).split(",") if k.strip())
    try:
        options = ChaosOptions(
            faults=given["faults"], seed=given["seed"], rate=given["rate"], kinds=chosen
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if given["short"]:
        options = dataclasses.replace(
            options,
            gap_s=(4.0, 8.0),
            hang_s=10.0,
            outage_s=10.0,
            scale_hold_s=8.0,
            recover_s=90.0,
        )
    json_path: Path | None = given["json_path"]
    report = run_chaos(current_settings(), options, out=click.echo)
    if report.interrupted:
        raise click.ClickException("interrupted; no report written")
    if json_path is not None:
        write_report(report, json_path)
        click.echo(f"Report written to {json_path}")
    if not report.ok():
        raise click.ClickException("the run broke a guarantee (see the figures above)")


@click.group()
def k8s() -> None:
    """The Kubernetes manifests under deploy/k8s/: generate their code-derived parts, check them."""


@k8s.command("generate")
@click.option(
    "--check", is_flag=True, help="Only report files that differ from the code; exit 1 if any."
)
@reported
def k8s_generate(check: bool) -> None:
    """Write the topics, users, workloads, alert rules and policy ConfigMap from the code."""
    from stack.k8s.generate import generated_files, stale_files, write_files  # noqa: PLC0415

    settings = current_settings()
    files = generated_files(REPO, policy_of(settings), policy_path(settings))
    changed = stale_files(files) if check else write_files(files)
    for path in changed:
        click.echo(f"{'differs from the code' if check else 'wrote'}: {path.relative_to(REPO)}")
    if check and changed:
        raise click.ClickException("run `liaison k8s generate` and commit the result")
    if not changed:
        click.echo(f"{len(files)} generated files agree with the code")


@k8s.command("validate")
@click.argument("overlays", nargs=-1, type=click.Path(file_okay=False, exists=True, path_type=Path))
@reported
def k8s_validate(overlays: tuple[Path, ...]) -> None:
    """Render each overlay (all by default) and check every resource offline."""
    from stack.k8s.validate import (  # noqa: PLC0415 - only this command needs them
        CrdSchemas,
        Validator,
        find_kustomize,
        render,
        workload_problems,
    )

    settings = current_settings()
    kustomize = find_kustomize(settings.cache_dir)
    validator = Validator(CrdSchemas(REPO / "deploy" / "k8s" / "schemas"))
    chosen = overlays or tuple(sorted((REPO / "deploy" / "k8s" / "overlays").iterdir()))
    failed = False
    for overlay in chosen:
        resources = render(overlay, kustomize)
        problems = [p for r in resources for p in (*validator.problems(r), *workload_problems(r))]
        click.echo(f"{overlay.name}: {len(resources)} resources, {len(problems)} problems")
        for problem in problems:
            click.echo(f"  {problem}")
        failed = failed or bool(problems)
    if failed:
        raise click.ClickException("the manifests have problems")
