"""``liaison connector run NAME``: one connector in the foreground, from the catalogue."""

from __future__ import annotations

import logging

import click
from prometheus_client import CollectorRegistry

from connectors.catalogue import KINDS, Running, kind_named
from liaison.command import current_settings, reported, stop_on_signals
from liaison.errors import ConfigurationError
from liaison.health import Health
from liaison.metrics import ConnectorMetrics, serve
from liaison.policy import policy_of

__all__ = ["connector"]


@click.group()
def connector() -> None:
    """The connectors to external systems, each its own process."""


@connector.command("run")
@click.argument("name", type=click.Choice([kind.name for kind in KINDS]))
@click.option("--partner", default=None, help="The partner id, for a sink that takes one.")
@reported
def connector_run(name: str, partner: str | None) -> None:
    """Run one connector in the foreground until SIGINT or SIGTERM."""
    settings = current_settings()
    kind = kind_named(name)
    if partner is not None and not kind.takes_partner:
        raise ConfigurationError(f"{name} takes no --partner")
    policy = policy_of(settings)
    stop = stop_on_signals()
    logging.getLogger().setLevel(settings.log_level)
    registry = CollectorRegistry()
    health = Health()
    server = serve(settings, registry, health)
    click.echo(f"{name}: metrics on http://{settings.metrics_host}:{server.server_port}/metrics")
    kind.run(
        Running(
            kind=name,
            settings=settings,
            policy=policy,
            stop=stop,
            metrics=ConnectorMetrics.create(registry),
            health=health,
            say=click.echo,
            partner=partner,
        )
    )


@connector.command("openapi")
@click.option("--check", is_flag=True, help="Only say whether docs/openapi.yaml is current.")
@reported
def connector_openapi(check: bool) -> None:
    """Write the HTTP sources' OpenAPI document (docs/openapi.yaml) from the code."""
    from connectors.openapi import DOCUMENT, rendered  # noqa: PLC0415 - this command only

    text = rendered()
    current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else None
    if check:
        if current != text:
            raise ConfigurationError(
                f"{DOCUMENT} differs from the code: run `liaison connector openapi`"
            )
        click.echo(f"{DOCUMENT} agrees with the code")
        return
    DOCUMENT.write_text(text, encoding="utf-8")
    click.echo(f"wrote {DOCUMENT}")
