"""The ``liaison`` command line: a thin dispatcher.

The core's own commands (the embedded broker, the topics, the lag exporter) are here; every
other command belongs to the part that runs it and is found through the
``liaison.commands`` entry points (``pyproject.toml``). A command's module is imported only
when that command is chosen (or when the list of commands is asked for), so
``liaison worker`` loads no connector and ``liaison connector run`` loads no Faust.
"""

from __future__ import annotations

import logging
import shlex
import sys
from importlib.metadata import EntryPoint, entry_points

import click
from prometheus_client import CollectorRegistry

from liaison.command import ENTRY_POINTS, current_settings, reported, stop_on_signals
from liaison.errors import ConfigurationError
from liaison.health import Health
from liaison.kafka.client import make_admin
from liaison.kafka.embedded import BrokerAlreadyRunningError, EmbeddedKafka, connection_env
from liaison.kafka.lag import LagExporter, watched_groups
from liaison.kafka.topics import ensure_topics
from liaison.metrics import LagMetrics, serve
from liaison.policy import declared_topics, policy_of
from liaison.settings import env_name, load_settings

__all__ = ["cli", "main"]


class _Dispatcher(click.Group):
    """A group whose commands beyond its own come from entry points, loaded on demand."""

    @staticmethod
    def _found() -> dict[str, EntryPoint]:
        return {entry.name: entry for entry in entry_points(group=ENTRY_POINTS)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._found()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._found().get(cmd_name)
        if entry is None:
            return None
        loaded = entry.load()
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"entry point {entry.value} is not a command")
        return loaded


@click.group(cls=_Dispatcher)
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
@click.option(
    "--plaintext",
    is_flag=True,
    help="One PLAINTEXT listener, no authentication, no ACLs: for debugging only.",
)
@reported
def kafka_start(plaintext: bool) -> None:
    """Start the broker in the background, wait until it answers, and create the users and
    ACLs of the current settings and routing policy (secured brokers)."""
    settings = current_settings()
    broker = EmbeddedKafka.from_settings(settings, secure=not plaintext)
    try:
        info = broker.start()
    except BrokerAlreadyRunningError as exc:
        info = exc.info
        broker = EmbeddedKafka.from_settings(settings, secure=info.secure)
        click.echo(
            f"already running: {info.bootstrap_servers} (pid {info.pid}), data in {info.data_dir}"
        )
    else:
        click.echo(
            f"started Kafka {info.kafka_version}: {info.bootstrap_servers} (pid {info.pid}), "
            f"data in {info.data_dir}"
        )
    users = broker.grant(settings, policy_of(settings))
    click.echo(f"listeners: {info.listeners}")
    if info.secure:
        click.echo(
            f"principals: admin (super user), {len(users)} from the access table: "
            + ", ".join(u.name for u in users)
        )
        click.echo('for the other commands, as the admin: eval "$(liaison kafka env)"')
        click.echo('as one process or partner: eval "$(liaison kafka env --principal NAME)"')
    else:
        exported = f"{env_name('bootstrap_servers')}={info.bootstrap_servers}"
        click.echo(f"for the other commands: export {exported}")


@kafka.command("env")
@click.option(
    "--principal",
    default=None,
    help="A user of the access table (a process or a partner); default: the admin.",
)
@reported
def kafka_env(principal: str | None) -> None:
    """Print the settings that connect to the running broker, as shell exports."""
    settings = current_settings()
    broker = EmbeddedKafka.from_settings(settings)
    info = broker.status()
    if info is None:
        raise ConfigurationError("the embedded broker is not running: `liaison kafka start`")
    if principal is not None and principal not in {
        u.name for u in broker.grant(settings, policy_of(settings))
    }:
        raise ConfigurationError(f"{principal} is no user of the access table")
    for name, value in connection_env(broker.client_settings(settings, principal)).items():
        click.echo(f"unset {name}" if value is None else f"export {name}={shlex.quote(value)}")


@kafka.command("certificate")
@click.argument("partner")
@click.option("--renew", is_flag=True, help="Issue a new key and certificate (rotation).")
@reported
def kafka_certificate(partner: str, renew: bool) -> None:
    """Where a partner's client certificate from the local CA is (issued on first ask)."""
    settings = current_settings()
    broker = EmbeddedKafka.from_settings(settings)
    partners = {p.kafka_user for p in policy_of(settings).partners if p.reads_kafka}
    if partner not in partners:
        raise ConfigurationError(
            f"{partner} is no partner that reads Kafka; those are: {', '.join(sorted(partners))}"
        )
    issued = broker.ca.issue_client(partner, renew=renew)
    click.echo(f"certificate {issued.certificate}")
    click.echo(f"key         {issued.key}")
    click.echo(f"CA          {broker.ca.ca_file}")


@kafka.command("stop")
@reported
def kafka_stop() -> None:
    """Stop the broker (SIGTERM, then waits)."""
    info = EmbeddedKafka.from_settings(current_settings()).stop()
    click.echo("not running" if info is None else f"stopped Kafka (pid {info.pid})")


@kafka.command("status")
@reported
def kafka_status() -> None:
    """Say whether the broker runs, and where. Exit code 3 when it does not."""
    broker = EmbeddedKafka.from_settings(current_settings())
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
@reported
def topics_create(replication_factor: int | None) -> None:
    """Create missing topics and apply declared configs (safe to repeat)."""
    settings = current_settings()
    admin = make_admin(settings)
    override = replication_factor or settings.topic_replication_factor
    embedded = EmbeddedKafka.from_settings(settings).status()
    if (
        override is None
        and embedded
        and settings.bootstrap_servers in (embedded.bootstrap_servers, embedded.partner_bootstrap)
    ):
        override = 1  # the embedded broker is a single node
    outcome = ensure_topics(
        admin,
        declared_topics(policy_of(settings)),
        prefix=settings.topic_prefix,
        replication_override=override,
    )
    for name, result in sorted(outcome.items()):
        click.echo(f"{result.value:12} {name}")


@topics.command("list")
def topics_list() -> None:
    """Print the declared topics with their partitions and configs."""
    settings = current_settings()
    for spec in declared_topics(policy_of(settings)):
        configs = ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
        click.echo(
            f"{spec.full_name(settings.topic_prefix)}  partitions={spec.partitions} "
            f"replication={spec.replication_factor}  {configs}\n    {spec.description}"
        )


# -- the lag exporter ----------------------------------------------------------


@cli.command("lag-exporter")
@reported
def lag_exporter() -> None:
    """Serve the consumer lag of Liaison's groups (records and seconds) on /metrics."""
    settings = current_settings()
    stop = stop_on_signals()
    registry = CollectorRegistry()
    metrics = LagMetrics.create(registry)
    groups = watched_groups(settings, policy_of(settings))
    health = Health()
    server = serve(settings, registry, health)
    click.echo(
        f"lag-exporter: {len(groups)} groups, every {settings.lag_interval_s:g}s; metrics on "
        f"http://{settings.metrics_host}:{server.server_port}/metrics"
    )
    LagExporter(settings, groups, metrics).run(stop, settings.lag_interval_s, health)


def main() -> None:
    cli(prog_name="liaison")
