"""One frozen settings object, read from ``LIAISON_*`` environment variables.

Every process (CLI, worker, connectors) calls :func:`load_settings` once and
passes the result down. Each field maps to one variable: ``kafka_port`` is
``LIAISON_KAFKA_PORT``. A ``LIAISON_`` variable that names no field is refused,
so a misspelt setting fails loudly instead of being ignored. Secrets are
``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from liaison.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "PartnerEndpoint", "Settings", "env_name", "load_settings"]

ENV_PREFIX = "LIAISON_"

_TOPIC_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]*$")


def _xdg_dir(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable)
    return Path(base) if base else Path.home() / fallback


# The shortest bearer token a sender may have: 32 characters (e.g. 24 random bytes in
# base64), too many to guess.
MIN_TOKEN_LENGTH = 32


class PartnerEndpoint(BaseModel):
    """Where one partner endpoint takes deliveries, and the token it expects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    token: SecretStr


def _entries(text: str) -> list[tuple[int, str]]:
    """The comma-separated entries of a map-valued setting, numbered from 1 for errors
    (which never quote an entry: it may hold a secret)."""
    items = [part.strip() for part in text.split(",")]
    return [(n, item) for n, item in enumerate(items, 1) if item]


def _secret_text(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


class Settings(BaseModel):
    """Runtime configuration of every Liaison process."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    # Kafka connection. Empty bootstrap servers means: the embedded broker
    # recorded under state_dir (see ``liaison kafka start``).
    bootstrap_servers: str = Field(default="", description="host:port[,host:port...]")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    # A client certificate and its key (PEM), for a mutual-TLS listener (partners).
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    client_id: str = "liaison"

    # Topics: every declared name is prefixed, so that several deployments
    # (or tests) can share one cluster without meeting.
    topic_prefix: str = "liaison."
    # Overrides every declared replication factor (1 on a single-node cluster).
    topic_replication_factor: int | None = Field(default=None, ge=1)

    # Stream worker.
    pipeline_app_id: str = "liaison-pipeline"
    routing_policy: Path | None = Field(default=None, description="default: policy/routing.toml")
    # How long two systems' reports of one seizure may lie apart and still be merged.
    dedupe_window_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # How long a customs record stays on hand for alerts raised after it.
    watch_window_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    # How long the versions seen of a record are remembered (replays and stale versions
    # older than this pass as new; their event ids still give them away downstream).
    replay_window_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    # The secret persons are matched under (an HMAC of name and birth date); the same in every
    # worker. Changing it makes earlier person entries unmatchable: see the README.
    person_key: SecretStr | None = Field(default=None, min_length=16)
    # The person key being replaced, for `liaison watch rekey` only (see the README).
    previous_person_key: SecretStr | None = Field(default=None, min_length=16)
    # Every so many events per partition, a stage deletes its expired table entries.
    state_sweep_every: int = Field(default=1000, ge=1)
    # How long a partition's commits or reads may stand still, with work waiting past them,
    # before the worker's watchdog repairs it (pipelines.watchdog).
    watchdog_stall_s: float = Field(default=30.0, gt=0)

    # Connectors.
    # How long a sink keeps trying a partner endpoint that answers as down (5xx, 429, a
    # timeout) before it dead-letters the event, DeliveryFailed: an outage shorter than
    # this delays deliveries (the lag alerts say so) and loses none to the dead letters.
    delivery_give_up_s: float = Field(default=300.0, gt=0, le=3600)
    cen_inbox: Path | None = Field(default=None, description="default: <state_dir>/cen/inbox")
    cen_archive: Path | None = Field(default=None, description="default: <state_dir>/cen/archive")
    # The largest CEN export file taken in; a larger one is refused whole and archived.
    cen_max_file_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    cen_outbox: Path | None = Field(default=None, description="default: <state_dir>/cen/outbox")
    http_host: str = "127.0.0.1"
    # Requests each sender may make per second on an HTTP source, and how many at once
    # after a quiet spell; beyond them it is answered 429 with Retry-After.
    http_sender_rate: float = Field(default=50.0, gt=0)
    http_sender_burst: int = Field(default=200, gt=0)
    cisplus_port: int = Field(default=8081, ge=0, le=65535)
    police_port: int = Field(default=8082, ge=0, le=65535)
    # Bearer tokens of the sending systems, per HTTP source and sender:
    # "cisplus:NL-CUSTOMS=<token>,police:NL-POLICE=<token>".
    http_tokens: dict[str, dict[str, tuple[SecretStr, ...]]] | None = None
    # Where the HTTP sinks deliver: "<endpoint>=<url>|<token>,..." for the endpoint names of
    # the routing policy, e.g. "nl-police=https://intake.example.nl/v1/liaison|<token>".
    partner_endpoints: dict[str, PartnerEndpoint] | None = None
    # The CA certificates (PEM) the HTTP sinks verify partner endpoints against; without
    # it, the system's trusted CAs.
    partner_ca_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Metrics: every process serves /metrics here; port 0 picks a free one (and logs it).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # The lag exporter: how often it reads committed offsets and watermarks.
    lag_interval_s: float = Field(default=10.0, gt=0)
    # Read receipts: how often the partners' own groups' commits are looked at.
    receipt_interval_s: float = Field(default=10.0, gt=0)

    # Embedded broker (local stack and tests).
    state_dir: Path = Field(
        default_factory=lambda: _xdg_dir("XDG_STATE_HOME", ".local/state") / "liaison"
    )
    cache_dir: Path = Field(
        default_factory=lambda: _xdg_dir("XDG_CACHE_HOME", ".cache") / "liaison"
    )
    kafka_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    kafka_partner_port: int = Field(default=0, ge=0, le=65535)
    kafka_controller_port: int = Field(default=0, ge=0, le=65535)
    kafka_heap_mb: int = Field(default=512, ge=128)
    kafka_start_timeout_s: float = Field(default=90.0, gt=0)

    @field_validator("topic_prefix")
    @classmethod
    def _legal_topic_prefix(cls, value: str) -> str:
        if not _TOPIC_PREFIX_RE.fullmatch(value):
            raise ValueError("may hold only letters, digits, '.', '_' and '-'")
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        for server in filter(None, (s.strip() for s in value.split(","))):
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @field_validator("http_tokens", mode="before")
    @classmethod
    def _sender_tokens(cls, value: object) -> object:
        if value is None or isinstance(value, Mapping):
            return value
        shape = "<endpoint>:<sender>=<token>"
        tokens: dict[str, dict[str, tuple[SecretStr, ...]]] = {}
        owners: dict[str, str] = {}  # token -> the sender it is for
        for number, item in _entries(_secret_text(value)):
            target, sep, token = item.partition("=")
            endpoint, colon, sender = (part.strip() for part in target.partition(":"))
            token = token.strip()
            if not (sep and colon and endpoint and sender and token):
                raise ValueError(f"entry {number} is not {shape}")
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"entry {number}: the token of {endpoint}:{sender} is shorter than "
                    f"{MIN_TOKEN_LENGTH} characters"
                )
            if owners.setdefault(token, f"{endpoint}:{sender}") != f"{endpoint}:{sender}":
                raise ValueError(f"entry {number}: that token is given to another sender too")
            # A sender named again gets another token: old and new both work while the
            # sender moves to the new one (rotation).
            senders = tokens.setdefault(endpoint, {})
            senders[sender] = (*senders.get(sender, ()), SecretStr(token))
        return tokens

    @field_validator("http_tokens", mode="after")
    @classmethod
    def _tokens_long_enough(
        cls, value: dict[str, dict[str, tuple[SecretStr, ...]]] | None
    ) -> dict[str, dict[str, tuple[SecretStr, ...]]] | None:
        """The length floor, also for tokens given as a mapping rather than as text."""
        for endpoint, senders in (value or {}).items():
            for sender, tokens in senders.items():
                if any(len(t.get_secret_value()) < MIN_TOKEN_LENGTH for t in tokens):
                    raise ValueError(
                        f"a token of {endpoint}:{sender} is shorter than "
                        f"{MIN_TOKEN_LENGTH} characters"
                    )
        return value

    @field_validator("partner_endpoints", mode="before")
    @classmethod
    def _endpoint_targets(cls, value: object) -> object:
        if value is None or isinstance(value, Mapping):
            return value
        shape = "<endpoint>=<url>|<token>"
        targets: dict[str, PartnerEndpoint] = {}
        for number, item in _entries(_secret_text(value)):
            endpoint, sep, target = (part.strip() for part in item.partition("="))
            url, bar, token = (part.strip() for part in target.partition("|"))
            if not (sep and bar and endpoint and url and token):
                raise ValueError(f"entry {number} is not {shape}")
            if endpoint in targets:
                raise ValueError(f"entry {number}: endpoint {endpoint} is given twice")
            targets[endpoint] = PartnerEndpoint(url=url, token=SecretStr(token))
        return targets

    def kafka_client_config(self) -> dict[str, str]:
        """Security and identity settings in librdkafka's dotted keys (no bootstrap)."""
        config = {"client.id": self.client_id, "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location is not None:
            config["ssl.certificate.location"] = str(self.ssl_certificate_location)
        if self.ssl_key_location is not None:
            config["ssl.key.location"] = str(self.ssl_key_location)
        return config

    @property
    def kafka_data_dir(self) -> Path:
        """Where the embedded broker keeps its storage, logs and state file."""
        return self.state_dir / "kafka"


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build the settings from ``environ`` (default: the process environment).

    ``overrides`` win over the environment; the CLI uses them for its flags.
    Raises :class:`ConfigurationError` naming every bad variable, never its value.
    """
    env = os.environ if environ is None else environ
    known = set(Settings.model_fields)
    values: dict[str, object] = {}
    unknown: list[str] = []
    for key, raw in env.items():
        if not key.upper().startswith(ENV_PREFIX):
            continue
        field = key[len(ENV_PREFIX) :].lower()
        if field in known:
            values[field] = raw
        else:
            unknown.append(key)
    if unknown:
        raise ConfigurationError(
            "unknown setting(s): "
            + ", ".join(sorted(unknown))
            + f"; known ones are {', '.join(env_name(f) for f in sorted(known))}"
        )
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = [
            f"{env_name(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError("invalid setting(s): " + "; ".join(problems)) from None
