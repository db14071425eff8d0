"""The local stack's way to a broker: the configured one, else the embedded broker that
``liaison kafka start`` left running. Production processes never look for one: they take
``LIAISON_BOOTSTRAP_SERVERS`` (:func:`liaison.kafka.client.resolve_bootstrap`)."""

from __future__ import annotations

from liaison.errors import ConfigurationError
from liaison.kafka.embedded import EmbeddedKafka
from liaison.settings import Settings, env_name

__all__ = ["local_bootstrap"]


def local_bootstrap(settings: Settings) -> str:
    """The configured bootstrap servers, else those of the running embedded broker."""
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    info = EmbeddedKafka.from_settings(settings).status()
    if info is None:
        raise ConfigurationError(
            f"no Kafka to talk to: set {env_name('bootstrap_servers')} "
            "or start the embedded broker with `liaison kafka start`"
        )
    return info.bootstrap_servers
