"""One real embedded broker for the whole test run; each test gets its own topics and group."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from liaison.kafka.client import make_admin
from liaison.kafka.embedded import BrokerInfo, EmbeddedKafka
from liaison.kafka.topics import ensure_topics
from liaison.policy import declared_topics as declared_topics_of
from liaison.policy import load_policy
from liaison.settings import Settings, load_settings


@pytest.fixture(scope="session")
def embedded_kafka(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> EmbeddedKafka:
    cache_dir = load_settings({}).cache_dir  # the jars are shared with the local stack
    broker = EmbeddedKafka(tmp_path_factory.mktemp("kafka"), cache_dir, heap_mb=768)

    # Stopped at the very end, after pytest has dropped the last test's fixtures:
    # librdkafka can hang destroying a client whose broker is already gone.
    def stop() -> None:
        broker.stop()

    request.config.add_cleanup(stop)
    broker.start()
    return broker


@pytest.fixture(scope="session")
def kafka(embedded_kafka: EmbeddedKafka) -> BrokerInfo:
    info = embedded_kafka.status()
    assert info is not None, "the session broker is not running"
    return info


@pytest.fixture
def settings(embedded_kafka: EmbeddedKafka, kafka: BrokerInfo, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic prefix, consumer group and state dir, on the
    secured broker as its admin (the operator; tests that need a process's own rights ask
    for them with :func:`as_principal`)."""
    tag = uuid.uuid4().hex[:10]
    chosen = load_settings(
        {},
        topic_prefix=f"t{tag}.",
        pipeline_app_id=f"liaison-test-{tag}",
        state_dir=tmp_path / "state",
        person_key=f"tests-only person key {tag}",
    )
    return embedded_kafka.client_settings(chosen)


@pytest.fixture
def admin(settings: Settings) -> AdminClient:
    return make_admin(settings)


@pytest.fixture
def declared_topics(settings: Settings, admin: AdminClient) -> Iterator[Settings]:
    """Create every declared topic under the test's prefix; delete them after the test, so
    the one broker of the run holds a few tests' partitions, not every test's."""
    topics = declared_topics_of(load_policy())
    ensure_topics(admin, topics, prefix=settings.topic_prefix, replication_override=1)
    yield settings
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)]
    if names:
        for future in admin.delete_topics(names, request_timeout=30).values():
            future.exception(timeout=30)  # a topic already gone is as good as deleted


@pytest.fixture
def as_principal(
    embedded_kafka: EmbeddedKafka, declared_topics: Settings
) -> Callable[[str], Settings]:
    """The test's settings as one user of the access table (a process or a partner), after
    the table's users and ACLs for the test's topic prefix are on the broker."""
    embedded_kafka.grant(declared_topics, load_policy())

    def connect(principal: str) -> Settings:
        return embedded_kafka.client_settings(declared_topics, principal)

    return connect


def liaison_env(settings: Settings) -> dict[str, str]:
    """The environment that hands ``settings`` to a ``liaison`` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LIAISON_")}
    for field, value in settings.model_dump(exclude_none=True).items():
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        env["LIAISON_" + field.upper()] = str(secret)
    return env


def liaison_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "liaison", *args]


def run_liaison(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        liaison_command(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def pipeline(declared_topics: Settings, admin: AdminClient, tmp_path: Path):
    """A running pipeline worker on the test's topics, killed at the end."""
    from tests.integration.test_pipeline import Worker  # noqa: PLC0415 - it imports this module

    running = Worker(declared_topics, admin, tmp_path / "worker.log")
    running.start()
    try:
        yield running
    finally:
        running.kill()
