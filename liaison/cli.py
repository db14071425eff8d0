"""The ``liaison`` command line."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

import click
from prometheus_client import CollectorRegistry

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.demo import DemoOptions, run_demo
from liaison.errors import ConfigurationError, LiaisonError
from liaison.health import Health
from liaison.kafka.client import KafkaProducer, make_admin, producer_config
from liaison.kafka.embedded import BrokerAlreadyRunningError, EmbeddedKafka
from liaison.kafka.lag import LagExporter, watched_groups
from liaison.kafka.topics import ensure_topics
from liaison.metrics import ConnectorMetrics, LagMetrics, serve
from liaison.model import from_avro
from liaison.model.common import Event
from liaison.policy import DEFAULT_POLICY, declared_topics, load_policy
from liaison.settings import Settings, load_settings
from liaison.synthetic.generator import Label, TrafficGenerator, TrafficMix
from liaison.synthetic.output import produce, write_jsonl

__all__ = ["main"]

P = ParamSpec("P")
R = TypeVar("R")


def _settings() -> Settings:
    settings = click.get_current_context().find_object(Settings)
    if settings is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("settings were not loaded")
    return settings


def _reported(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Liaison's own errors into a one-paragraph message and an exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as exc:
            click.echo(f"liaison: configuration error: {exc}", err=True)
            sys.exit(2)
        except LiaisonError as exc:
            click.echo(f"liaison: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.group()
@click.version_option(package_name="liaison")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Liaison: enforcement events between customs and police, over Kafka."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        ctx.obj = load_settings()
    except ConfigurationError as exc:
        click.echo(f"liaison: configuration error: {exc}", err=True)
        sys.exit(2)


# -- kafka -------------------------------------------------------------------


@cli.group()
def kafka() -> None:
    """The embedded single-node Kafka broker (local stack)."""


@kafka.command("start")
@_reported
def kafka_start() -> None:
    """Start the broker in the background and wait until it answers."""

    broker = EmbeddedKafka.from_settings(_settings())
    try:
        info = broker.start()
    except BrokerAlreadyRunningError as exc:
        click.echo(
            f"already running: {exc.info.bootstrap_servers} (pid {exc.info.pid}), "
            f"data in {exc.info.data_dir}"
        )
        return
    click.echo(
        f"started Kafka {info.kafka_version}: {info.bootstrap_servers} (pid {info.pid}), "
        f"data in {info.data_dir}"
    )


@kafka.command("stop")
@_reported
def kafka_stop() -> None:
    """Stop the broker (SIGTERM, then waits)."""

    info = EmbeddedKafka.from_settings(_settings()).stop()
    click.echo("not running" if info is None else f"stopped Kafka (pid {info.pid})")


@kafka.command("status")
@_reported
def kafka_status() -> None:
    """Say whether the broker runs, and where. Exit code 3 when it does not."""

    broker = EmbeddedKafka.from_settings(_settings())
    info = broker.status()
    if info is None:
        click.echo(f"not running (data dir {broker.data_dir})")
        sys.exit(3)
    click.echo(
        f"running: {info.bootstrap_servers} (pid {info.pid}), Kafka {info.kafka_version}, "
        f"cluster {info.cluster_id}, since {info.started_at}, data in {info.data_dir}"
    )


# -- topics ------------------------------------------------------------------


@cli.group()
def topics() -> None:
    """The topics declared in liaison.kafka.topics, and one per partner of the policy."""


@topics.command("create")
@click.option(
    "--replication-factor",
    type=click.IntRange(min=1),
    default=None,
    help="Override every declared replication factor "
    "(default: the setting, or 1 on the embedded broker).",
)
@_reported
def topics_create(replication_factor: int | None) -> None:
    """Create missing topics and apply declared configs (safe to repeat)."""
    settings = _settings()
    override = replication_factor or settings.topic_replication_factor
    if override is None and not settings.bootstrap_servers:
        override = 1  # the embedded broker is a single node
    outcome = ensure_topics(
        make_admin(settings),
        declared_topics(load_policy(settings.routing_policy or DEFAULT_POLICY)),
        prefix=settings.topic_prefix,
        replication_override=override,
    )
    for name, result in sorted(outcome.items()):
        click.echo(f"{result.value:12} {name}")


@topics.command("list")
def topics_list() -> None:
    """Print the declared topics with their partitions and configs."""

    settings = _settings()
    prefix = settings.topic_prefix
    for spec in declared_topics(load_policy(settings.routing_policy or DEFAULT_POLICY)):
        configs = ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
        click.echo(
            f"{spec.full_name(prefix)}  partitions={spec.partitions} "
            f"replication={spec.replication_factor}  {configs}\n    {spec.description}"
        )


# -- synthetic data ----------------------------------------------------------


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


@cli.command()
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
@_reported
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
    settings = _settings()
    generator = TrafficGenerator(seed=seed, mix=_parse_mix(shares))
    records = (generator.next() for _ in range(count))
    if out is not None:
        write_jsonl(records, out, settings.topic_prefix)
    elif native is not None:
        from connectors.native import write_native  # noqa: PLC0415 - connectors build on the core

        for kind, number in sorted(write_native(records, native, cen_format=cen_format).items()):
            click.echo(f"{number:7d} {kind} records under {native}")
    else:
        with KafkaProducer(producer_config(settings)) as producer:
            produce(records, producer, settings.topic_prefix, rate)
    report = generator.report()
    click.echo(f"{count} records, seed {seed}:", err=out is not None and out.name == "<stdout>")
    for label, share in report.items():
        click.echo(
            f"  {label:18} {generator.counts[Label(label)]:7d}  {share:6.1%}",
            err=out is not None and out.name == "<stdout>",
        )


# -- routing -----------------------------------------------------------------


@cli.group()
def route() -> None:
    """The routing policy and its decisions."""


@route.command("explain")
@click.argument("source", type=click.File("r"))
@click.option(
    "--line",
    "line_number",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Which record of a JSON-lines file (as `liaison generate --out` writes).",
)
@click.option(
    "--earlier",
    multiple=True,
    metavar="PARTNER",
    help="A partner that received an earlier version (repeatable).",
)
@_reported
def route_explain(source: IO[str], line_number: int, earlier: tuple[str, ...]) -> None:
    """Who gets one event, in which form, by which rule; and who does not, and why."""
    from pipelines.route.decide import route_decision  # noqa: PLC0415 - pipelines build on the core

    settings = _settings()
    policy = load_policy(settings.routing_policy or DEFAULT_POLICY)
    line = next((text for number, text in enumerate(source, 1) if number == line_number), None)
    if line is None:
        raise click.BadParameter(f"there is no line {line_number}", param_hint="--line")
    try:
        value = base64.b64decode(json.loads(line)["value"])
    except (ValueError, KeyError, TypeError) as exc:
        raise click.BadParameter(f"line {line_number} is not a generated record: {exc}") from None
    event = from_avro(Event, AvroCodec(EVENT).decode(value))
    envelope = event.envelope
    click.echo(
        f"{envelope.source_system.value} {envelope.source_record_id} version {envelope.version} "
        f"({envelope.operation.value}), {envelope.handling.handling_code.value}, "
        f"TLP:{envelope.handling.tlp.value}"
    )
    decision = route_decision(event, policy, frozenset(earlier))
    for delivery in decision.deliveries:
        removed = ", ".join(delivery.removed_fields) or "nothing"
        click.echo(
            f"  gets     {delivery.partner.id:12} rule {delivery.rule_id}; removed: {removed}"
        )
    for refusal in decision.refusals:
        click.echo(f"  refused  {refusal.partner_id:12} {refusal.reason}")


# -- processes ---------------------------------------------------------------


def _run_http_sink(
    settings: Settings,
    partner_id: str | None,
    stop: threading.Event,
    metrics: ConnectorMetrics,
    health: Health,
) -> None:
    from connectors.http_sink import HttpSink  # noqa: PLC0415 - connectors build on the core

    policy = load_policy(settings.routing_policy or DEFAULT_POLICY)
    partner = next((p for p in policy.partners if p.id == partner_id), None)
    if partner is None or partner.endpoint is None:
        raise ConfigurationError(
            f"--partner must name a partner with an endpoint in the policy; "
            f"those are {', '.join(p.id for p in policy.partners if p.endpoint)}"
        )
    secret = settings.partner_endpoints.get_secret_value() if settings.partner_endpoints else ""
    targets = dict(item.strip().split("=", 1) for item in secret.split(",") if "=" in item)
    if partner.endpoint not in targets or "|" not in targets[partner.endpoint]:
        raise ConfigurationError(
            f"no URL and token for endpoint {partner.endpoint!r} in LIAISON_PARTNER_ENDPOINTS"
        )
    url, token = targets[partner.endpoint].split("|", 1)
    click.echo(f"http-sink: {settings.topic_prefix + partner.topic} to {partner.endpoint}")
    HttpSink(
        settings,
        name=f"{partner.endpoint}-sink",
        topic=settings.topic_prefix + partner.topic,
        url=url,
        token=token,
        partner=partner.id,
        metrics=metrics,
        health=health,
    ).run(stop)


@cli.group()
def connector() -> None:
    """The connectors to external systems, each its own process."""


@connector.command("run")
@click.argument(
    "name",
    type=click.Choice(["cen-source", "cisplus-source", "police-source", "cen-sink", "http-sink"]),
)
@click.option("--partner", default=None, help="The partner id, for http-sink.")
@_reported
def connector_run(name: str, partner: str | None) -> None:
    """Run one connector in the foreground until SIGINT or SIGTERM."""
    from connectors.cen.source import CenSource  # noqa: PLC0415 - connectors build on the core

    settings = _settings()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger().setLevel(settings.log_level)
    registry = CollectorRegistry()
    metrics = ConnectorMetrics.create(registry)
    health = Health()
    server = serve(settings, registry, health)
    click.echo(f"{name}: metrics on http://{settings.metrics_host}:{server.server_port}/metrics")
    if name == "http-sink":
        _run_http_sink(settings, partner, stop, metrics, health)
        return
    if name == "cen-sink":
        from connectors.cen.sink import CenSink  # noqa: PLC0415

        cen = next(
            p
            for p in load_policy(settings.routing_policy or DEFAULT_POLICY).partners
            if p.kind == "cen"
        )
        outbox = settings.cen_outbox or settings.state_dir / "cen" / "outbox"
        click.echo(f"{name}: writing {settings.topic_prefix + cen.topic} to {outbox}")
        CenSink(
            settings,
            topic=settings.topic_prefix + cen.topic,
            outbox=outbox,
            partner=cen.id,
            metrics=metrics,
            health=health,
        ).run(stop)
        return
    if name != "cen-source":
        from connectors.http_runner import run_http_source  # noqa: PLC0415

        endpoint = name.removesuffix("-source")
        port = settings.cisplus_port if endpoint == "cisplus" else settings.police_port
        click.echo(f"{name}: listening on http://{settings.http_host}:{port}")
        run_http_source(settings, endpoint, stop, metrics, health)
        return
    inbox = settings.cen_inbox or settings.state_dir / "cen" / "inbox"
    archive = settings.cen_archive or settings.state_dir / "cen" / "archive"
    click.echo(f"{name}: watching {inbox}, archiving to {archive}")
    CenSource(settings, inbox=inbox, archive=archive, metrics=metrics, health=health).run(stop)


@cli.command("lag-exporter")
@_reported
def lag_exporter() -> None:
    """Serve the consumer lag of Liaison's groups (records and seconds) on /metrics."""
    settings = _settings()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    registry = CollectorRegistry()
    metrics = LagMetrics.create(registry)
    groups = watched_groups(settings, load_policy(settings.routing_policy or DEFAULT_POLICY))
    health = Health()
    server = serve(settings, registry, health)
    click.echo(
        f"lag-exporter: {len(groups)} groups, every {settings.lag_interval_s:g}s; metrics on "
        f"http://{settings.metrics_host}:{server.server_port}/metrics"
    )
    LagExporter(settings, groups, metrics).run(stop, settings.lag_interval_s, health)


@cli.command()
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
@_reported
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
    from liaison.bench.runner import BenchOptions, run_bench  # noqa: PLC0415 - bench only

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
    run_bench(_settings(), options, click.echo)


@cli.group()
def k8s() -> None:
    """The Kubernetes manifests under deploy/k8s/: generate their code-derived parts, check them."""


_REPO = DEFAULT_POLICY.parents[1]


@k8s.command("generate")
@click.option(
    "--check", is_flag=True, help="Only report files that differ from the code; exit 1 if any."
)
@_reported
def k8s_generate(check: bool) -> None:
    """Write the topics, users, workloads, alert rules and policy ConfigMap from the code."""
    from liaison.k8s.generate import generated_files, stale_files, write_files  # noqa: PLC0415

    settings = _settings()
    policy_path = settings.routing_policy or DEFAULT_POLICY
    files = generated_files(_REPO, load_policy(policy_path), policy_path)
    changed = stale_files(files) if check else write_files(files)
    for path in changed:
        click.echo(f"{'differs from the code' if check else 'wrote'}: {path.relative_to(_REPO)}")
    if check and changed:
        raise click.ClickException("run `liaison k8s generate` and commit the result")
    if not changed:
        click.echo(f"{len(files)} generated files agree with the code")


@k8s.command("validate")
@click.argument("overlays", nargs=-1, type=click.Path(file_okay=False, exists=True, path_type=Path))
@_reported
def k8s_validate(overlays: tuple[Path, ...]) -> None:
    """Render each overlay (all by default) and check every resource offline."""
    from liaison.k8s.validate import (  # noqa: PLC0415 - only this command needs them
        CrdSchemas,
        Validator,
        find_kustomize,
        render,
        workload_problems,
    )

    settings = _settings()
    kustomize = find_kustomize(settings.cache_dir)
    validator = Validator(CrdSchemas(_REPO / "deploy" / "k8s" / "schemas"))
    chosen = overlays or tuple(sorted((_REPO / "deploy" / "k8s" / "overlays").iterdir()))
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


@cli.command()
@_reported
def worker() -> None:
    """Run the pipeline worker (Faust) in the foreground."""
    from pipelines.worker import run_worker  # noqa: PLC0415 - Faust loads slowly; only this command needs it

    run_worker(_settings())


@cli.command()
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
@_reported
def demo(rate: float, count: int | None, duration: float | None, stay: bool) -> None:
    """Run the local stack with sample traffic until Ctrl-C."""
    options = DemoOptions(rate=rate, count=count, duration_s=duration, stay=stay)
    report = run_demo(_settings(), options, out=click.echo)
    if report.failed or (count is not None and report.received < count):
        sys.exit(1)


def main() -> None:
    cli(prog_name="liaison")
