"""The pipeline's commands: ``liaison worker`` and ``liaison route explain``.

Faust loads slowly, so the modules that need it are imported by the command that runs
them, not when the command line is built.
"""

from __future__ import annotations

import base64
import json
from typing import IO

import click

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.command import current_settings, reported
from liaison.model import from_avro
from liaison.model.common import Event
from liaison.policy import policy_of
from liaison.settings import env_name

__all__ = ["audit", "route", "watch", "worker"]


@click.command()
@reported
def worker() -> None:
    """Run the pipeline worker (Faust) in the foreground."""
    from pipelines.worker import run_worker  # noqa: PLC0415 - Faust loads slowly

    run_worker(current_settings())


@click.group()
def route() -> None:
    """The routing policy and its decisions."""


@route.command("explain")
@click.argument("source", type=click.File("r"), required=False)
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
@click.option(
    "--past",
    "past",
    metavar="SYSTEM:RECORD_ID",
    help="Explain the audited deliveries of this record, under the policy that decided each.",
)
@click.option("--version", "version", type=int, help="With --past: only this version.")
@click.option("--partner", "partner", help="With --past: only deliveries to this partner.")
@reported
def route_explain(  # noqa: PLR0917 - click passes each option by position
    source: IO[str] | None,
    line_number: int,
    earlier: tuple[str, ...],
    past: str | None,
    version: int | None,
    partner: str | None,
) -> None:
    """Who gets one event, in which form, by which rule; and who does not, and why.

    With SOURCE, an event of a file is decided under today's policy. With --past, the
    deliveries the audit topic holds for a record are explained under the policy (kept on
    the policies topic) that made each one."""
    if past is not None:
        if source is not None:
            raise click.UsageError("give a SOURCE file or --past, not both")
        _explain_past(past, version, partner)
        return
    if source is None:
        raise click.UsageError("give a SOURCE file, or --past SYSTEM:RECORD_ID")
    if version is not None or partner is not None:
        raise click.UsageError("--version and --partner go with --past")
    from pipelines.route.decide import route_decision  # noqa: PLC0415 - only this command

    policy = policy_of(current_settings())
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


def _explain_past(record: str, version: int | None, partner: str | None) -> None:
    from pipelines.explain import explain_past  # noqa: PLC0415 - only this command

    settings = current_settings()
    try:
        lines = explain_past(
            settings, record, version=version, partner=partner, today=policy_of(settings)
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--past") from None
    for text in lines:
        click.echo(text)


@click.group()
def audit() -> None:
    """What was disclosed, to whom, under which rule; and what was refused, and why."""


@audit.command("trail")
@click.argument("record")
@reported
def audit_trail(record: str) -> None:
    """The history of one record (SYSTEM:RECORD_ID): each version, who received which form
    when, by which rule and policy, with the hash of what was sent; refusals and drops."""
    from pipelines.trail import read_trail  # noqa: PLC0415 - only this command

    try:
        trail = read_trail(current_settings(), record)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RECORD") from None
    for line in trail.lines():
        click.echo(line)


@click.group()
def watch() -> None:
    """The watchlist tables."""


@watch.command("rekey")
@reported
def watch_rekey() -> None:
    """Move the watch tables from LIAISON_PREVIOUS_PERSON_KEY to LIAISON_PERSON_KEY, with
    every worker stopped (see the README, "Changing the person key")."""
    from liaison.kafka.client import make_admin  # noqa: PLC0415 - only this command
    from pipelines.enrich.rekey import rekey  # noqa: PLC0415
    from pipelines.enrich.watchlist import PersonKeys  # noqa: PLC0415

    settings = current_settings()
    if settings.previous_person_key is None:
        raise click.UsageError(f"set {env_name('previous_person_key')} to the key being replaced")
    new = PersonKeys.from_settings(settings)
    previous = settings.previous_person_key.get_secret_value()
    if settings.person_key is not None and previous == settings.person_key.get_secret_value():
        raise click.UsageError("the previous and the new person key are the same")
    old = PersonKeys(previous.encode())
    group = settings.pipeline_app_id
    admin = make_admin(settings)  # held while its answer comes: it is the one that answers
    answer = admin.describe_consumer_groups([group], request_timeout=10)[group]
    members = answer.result(timeout=30).members
    if members:
        raise click.ClickException(
            f"{len(members)} worker(s) of {group} are running: stop every worker first"
        )
    rekey(settings, old, new, say=click.echo)
