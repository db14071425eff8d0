"""Liaison's overrides of faust-streaming, on Faust's own consumer code (no broker: the
consumer is built, never started, and its call to Kafka is replaced)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from liaison.settings import load_settings
from pipelines.app import create_app
from pipelines.overrides import uncommitted

TP0 = TP("liaison.ingest.cen", 0)


@pytest.fixture
def consumer(tmp_path) -> Iterator[Any]:
    loop = asyncio.new_event_loop()  # the app takes the thread's loop: one per test
    asyncio.set_event_loop(loop)
    settings = load_settings({}, state_dir=tmp_path, person_key="unit tests person key")
    app = create_app(settings, bootstrap="127.0.0.1:9")
    built = app.consumer

    async def flush() -> None:
        return None

    app._producer = SimpleNamespace(flush=flush)  # type: ignore[assignment] # flushed first
    built.assignment = lambda: {TP0}  # type: ignore[method-assign]
    yield built
    built._thread.thread_loop.close()  # type: ignore[attr-defined] # its thread never ran
    asyncio.set_event_loop(None)
    loop.close()


def _commit(consumer: Any) -> bool:
    """Faust's own commit path for the partition (``Consumer.commit`` minus its locks)."""
    done = consumer._commit_tps([TP0], start_new_transaction=False)
    return bool(consumer.app.loop.run_until_complete(done))


def _acknowledge(consumer: Any, offsets: range) -> None:
    consumer._acked[TP0].extend(offsets)
    consumer._acked_index[TP0].update(offsets)


def _kafka_answers(consumer: Any, ok: bool) -> list[dict[TP, int]]:
    asked: list[dict[TP, int]] = []

    async def commit(offsets: dict[TP, int]) -> bool:
        asked.append(dict(offsets))
        return ok

    consumer._commit = commit
    return asked


def test_looking_at_what_is_uncommitted_takes_nothing(consumer):
    _acknowledge(consumer, range(7))
    assert uncommitted(consumer) == {TP0: 7}
    assert uncommitted(consumer) == {TP0: 7}
    taken = _kafka_answers(consumer, ok=True)
    assert _commit(consumer)
    assert taken == [{TP0: 7}]
