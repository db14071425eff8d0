"""Who may do what on Kafka: one table of principals, the source of every ACL.

The table follows from the process catalogue (each process's topics and groups) and the
routing policy (one principal per partner that reads its deliveries from Kafka itself).
The Kubernetes generator writes it as Strimzi ``KafkaUser`` resources; the embedded
broker applies the same table through the admin API (:func:`apply_access`), so what a
test sees refused is what production refuses.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from liaison.errors import ConfigurationError
from liaison.policy import RoutingPolicy
from liaison.processes import Process, catalogue
from liaison.settings import Settings

__all__ = [
    "PARTNER_QUOTAS",
    "SCRAM",
    "SERVICE_QUOTAS",
    "TLS",
    "Principal",
    "acl_bindings",
    "apply_access",
    "new_password",
    "principals",
]

SCRAM = "scram-sha-512"  # Liaison's own processes
TLS = "tls"  # partners: a client certificate whose CN is the user

# Per-broker quotas. Partners read at most this fast, so that one partner catching up on
# two weeks of deliveries cannot starve the pipeline; Liaison's own processes get more room.
PARTNER_QUOTAS = {
    "consumerByteRate": 5 * 1024 * 1024,
    "producerByteRate": 64 * 1024,
    "requestPercentage": 20,
}
SERVICE_QUOTAS = {
    "consumerByteRate": 50 * 1024 * 1024,
    "producerByteRate": 50 * 1024 * 1024,
    "requestPercentage": 50,
}
_SCRAM_ITERATIONS = 8192


@dataclass(frozen=True)
class Principal:
    """One Kafka user and what it may do: least privilege, per process or partner."""

    name: str
    description: str
    authentication: str  # SCRAM or TLS
    read: tuple[str, ...] = ()  # topics (full names) it consumes
    write: tuple[str, ...] = ()  # topics it produces to
    groups: tuple[str, ...] = ()  # consumer groups it joins (Read)
    group_describe: tuple[str, ...] = ()  # groups it only inspects
    group_describe_prefixes: tuple[str, ...] = ()  # groups by prefix it only inspects
    prefixed: tuple[str, ...] = ()  # topic prefixes it reads (a partner's own topics)
    group_prefixes: tuple[str, ...] = ()  # group prefixes it may use (a partner's groups)
    describe: tuple[str, ...] = ()  # topics it may only describe (offsets, timestamps)
    quotas: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_QUOTAS))

    def rules(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        """(resource type, name, operations, pattern type) for every grant, in a stable order."""
        table = (
            ("topic", self.read, ("Read", "Describe"), "literal"),
            ("topic", self.write, ("Write", "Describe"), "literal"),
            ("topic", self.describe, ("Describe",), "literal"),
            ("topic", self.prefixed, ("Read", "Describe"), "prefix"),
            ("group", self.groups, ("Read", "Describe"), "literal"),
            ("group", self.group_describe, ("Describe",), "literal"),
            ("group", self.group_describe_prefixes, ("Describe",), "prefix"),
            ("group", self.group_prefixes, ("Read", "Describe"), "prefix"),
        )
        return [
            (kind, name, operations, pattern)
            for kind, names, operations, pattern in table
            for name in names
        ]


def _principal(process: Process) -> Principal:
    return Principal(
        process.principal,
        process.summary,
        SCRAM,
        read=(*process.consumes, *process.reads),
        write=process.writes,
        groups=(*((process.group,) if process.group else ()), *process.reader_groups),
        group_describe=process.describes_groups,
        group_describe_prefixes=process.describes_group_prefixes,
        describe=process.describes,
    )


def principals(settings: Settings, policy: RoutingPolicy) -> list[Principal]:
    """Every Kafka user of a deployment with these settings: one per process of the
    catalogue (the worker, each connector, the lag exporter) and one per partner that reads
    its deliveries from Kafka itself."""
    users = [_principal(process) for process in catalogue(settings, policy)]
    _refuse_prefix_clashes(settings, policy)
    for partner in policy.partners:
        if partner.reads_kafka:
            users.append(
                Principal(
                    partner.kafka_user,
                    f"{partner.name}: reads its own deliveries and nothing else.",
                    TLS,
                    prefixed=(settings.topic_prefix + partner.topic,),
                    group_prefixes=(partner.group_prefix,),
                    quotas=dict(PARTNER_QUOTAS),
                )
            )
    names = [user.name for user in users]
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise ConfigurationError(f"two Kafka principals share a name: {', '.join(doubled)}")
    return users


def _refuse_prefix_clashes(settings: Settings, policy: RoutingPolicy) -> None:
    """A partner reads its topic by prefix: no other partner's topic may start with it."""
    topics = [settings.topic_prefix + p.topic for p in policy.partners]
    for partner in policy.partners:
        own = settings.topic_prefix + partner.topic
        clash = [t for t in topics if t != own and t.startswith(own)]
        if clash:
            raise ConfigurationError(
                f"partner {partner.id}'s topic {own} is a prefix of {', '.join(clash)}: its "
                "read rights would reach them; rename one of the topics in the policy"
            )


_RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefix": ResourcePatternType.PREFIXED}
_OPERATIONS = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Describe": AclOperation.DESCRIBE,
}


def acl_bindings(principal: Principal) -> list[AclBinding]:
    """The principal's grants as Kafka ACL bindings (allow, any host), each once."""
    grants = dict.fromkeys(
        (kind, name, pattern, operation)
        for kind, name, operations, pattern in principal.rules()
        for operation in operations
    )
    return [
        AclBinding(
            _RESOURCES[kind],
            name,
            _PATTERNS[pattern],
            f"User:{principal.name}",
            "*",
            _OPERATIONS[operation],
            AclPermissionType.ALLOW,
        )
        for kind, name, pattern, operation in grants
    ]


def new_password() -> str:
    return secrets.token_urlsafe(32)


def apply_access(
    admin: AdminClient,
    users: Iterable[Principal],
    passwords: Mapping[str, str],
    timeout_s: float = 30.0,
) -> None:
    """Give every SCRAM principal its password and every principal its ACLs.

    ``passwords`` holds one per SCRAM principal. ACLs are only ever added: creating one that
    exists changes nothing, and a grant dropped from the table must be removed by hand (the
    embedded broker's data directory is disposable; production's users are Strimzi's)."""
    users = list(users)
    upserts: list[UserScramCredentialAlteration] = []
    for user in users:
        if user.authentication != SCRAM:
            continue
        if user.name not in passwords:
            raise ConfigurationError(f"no SCRAM password for Kafka user {user.name}")
        upserts.append(
            UserScramCredentialUpsertion(
                user.name,
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _SCRAM_ITERATIONS),
                passwords[user.name].encode(),
            )
        )
    failures: list[str] = []
    if upserts:
        for name, future in admin.alter_user_scram_credentials(
            upserts, request_timeout=timeout_s
        ).items():
            error = future.exception(timeout=timeout_s)
            if error is not None:
                failures.append(f"SCRAM credentials of {name}: {_reason(error)}")
    bindings = [binding for user in users for binding in acl_bindings(user)]
    if bindings:
        for binding, future in admin.create_acls(bindings, request_timeout=timeout_s).items():
            error = future.exception(timeout=timeout_s)
            if error is not None:
                failures.append(f"ACL for {binding.principal}: {_reason(error)}")
    if failures:
        raise ConfigurationError("Kafka refused the access table: " + "; ".join(failures[:5]))
    _await_acls(admin, bindings, timeout_s)


def _await_acls(admin: AdminClient, bindings: list[AclBinding], timeout_s: float) -> None:
    """Return once the broker's authorizer holds every binding.

    ACLs reach a KRaft broker's authorizer through the metadata log, a moment after
    CreateAcls answers; a client let loose before would be refused what it was just granted.
    DescribeAcls answers from that same authorizer."""
    wanted = {_binding_key(b) for b in bindings}
    # None matches any name, principal and host (confluent-kafka's type hints say str).
    anything = cast(str, None)
    everything = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        held = admin.describe_acls(everything, request_timeout=timeout_s).result()
        missing = wanted - {_binding_key(b) for b in held}
        if not missing:
            return
        if time.monotonic() > deadline:
            raise ConfigurationError(f"{len(missing)} ACLs granted did not take effect")
        time.sleep(0.1)


def _binding_key(binding: AclBinding) -> tuple[object, ...]:
    return (
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.operation,
        binding.permission_type,
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, KafkaException) and error.args:
        return str(error.args[0])
    return str(error)
