"""What every ``liaison`` command shares, whichever part declares it: the settings the
dispatcher loaded, Liaison's errors as a message and an exit code, a stop on SIGINT or
SIGTERM.

Commands are found through the ``liaison.commands`` entry points (see :mod:`liaison.cli`);
a part's command module imports this one, never the other way round.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click

from liaison.errors import ConfigurationError, LiaisonError
from liaison.settings import Settings

__all__ = ["ENTRY_POINTS", "current_settings", "reported", "stop_on_signals"]

ENTRY_POINTS = "liaison.commands"

P = ParamSpec("P")
R = TypeVar("R")


def current_settings() -> Settings:
    """The settings the ``liaison`` group loaded for this invocation."""
    settings = click.get_current_context().find_object(Settings)
    if settings is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("settings were not loaded")
    return settings


def reported(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Liaison's own errors into a one-paragraph message and an exit code (2 for
    configuration, 1 otherwise)."""

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


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM, for a process that runs until told."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
