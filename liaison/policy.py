"""The routing policy, held as data in ``policy/routing.toml`` and checked when it is loaded.

A policy that cannot be applied safely is refused at start-up with every
problem named: unknown symbols, duplicate ids or topics, a CEN partner that
would receive personal data, personal data without the categories it may hold.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from liaison.errors import ConfigurationError
from liaison.kafka.topics import TOPICS, TopicSpec, partner_topic
from liaison.model.common import DataSubjectCategory, SienaHandlingCode, SourceSystem, TlpLevel
from liaison.model.customs import CommodityArea
from liaison.settings import Settings

__all__ = [
    "DEFAULT_POLICY",
    "Partner",
    "PayloadKind",
    "RoutingPolicy",
    "Sender",
    "declared_topics",
    "load_policy",
    "parse_policy",
    "policy_digest",
    "policy_of",
    "policy_path",
]

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "policy" / "routing.toml"
ANY = "*"
_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,40}$")
_TOPIC = re.compile(r"^partner\.[a-z0-9][a-z0-9.-]{1,60}$")


class PayloadKind(StrEnum):
    SEIZURE = "seizure"
    CIS_RECORD = "cis-record"
    POLICE_ALERT = "police-alert"
    WATCHLIST_HIT = "watchlist-hit"


Country = Annotated[str, Field(pattern=r"^([A-Z]{2}|\*)$")]

# How long a record is held when its provider gave it no retention date and the policy no
# maximum for its kind: five years for what national systems report (the usual review cycle
# of customs and police files), two for a hit, which is only as good as the two records.
DEFAULT_MAX_RETENTION_DAYS: dict[PayloadKind, int] = {
    PayloadKind.SEIZURE: 5 * 365,
    PayloadKind.CIS_RECORD: 5 * 365,
    PayloadKind.POLICE_ALERT: 5 * 365,
    PayloadKind.WATCHLIST_HIT: 2 * 365,
}


class Partner(BaseModel):
    """One recipient agency and what it may receive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    kind: str
    topic: str
    endpoint: str | None = None
    legal_basis: str
    purpose: str
    payloads: frozenset[PayloadKind]
    sources: frozenset[SourceSystem]
    areas: frozenset[CommodityArea | Literal["*"]]
    countries: frozenset[Country]
    handling_codes: frozenset[SienaHandlingCode]
    tlp: frozenset[TlpLevel]
    personal_data: bool
    subject_categories: frozenset[DataSubjectCategory] = frozenset()

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("must be upper-case letters, digits and dashes")
        return value

    @field_validator("topic")
    @classmethod
    def _topic_shape(cls, value: str) -> str:
        if not _TOPIC.fullmatch(value):
            raise ValueError("must be 'partner.<lower-case name>'")
        return value

    @model_validator(mode="after")
    def _personal_data_rules(self) -> Partner:
        if self.kind == "cen" and self.personal_data:
            raise ValueError("CEN is non-nominal: a CEN partner never receives personal data")
        if self.personal_data and not self.subject_categories:
            raise ValueError("personal_data needs the subject_categories it may receive")
        if not self.personal_data and self.subject_categories:
            raise ValueError("subject_categories given but personal_data is false")
        return self

    @property
    def kafka_user(self) -> str:
        """The Kafka user of a partner that reads its topic from Kafka itself."""
        return "partner-" + self.topic.removeprefix("partner.")

    @property
    def group_prefix(self) -> str:
        """What the names of such a partner's consumer groups start with."""
        return self.kafka_user + "."

    @property
    def reads_kafka(self) -> bool:
        """True for a partner that reads its topic itself (no sink delivers it)."""
        return self.endpoint is None

    def covers_area(self, area: CommodityArea) -> bool:
        return ANY in self.areas or area in self.areas

    def covers_country(self, countries: set[str]) -> bool:
        return ANY in self.countries or bool(self.countries & countries)


class Sender(BaseModel):
    """A national system that sends over HTTP under its own token, and what it may report
    as its own: a record claiming another owner is refused at the door (403)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    systems: frozenset[SourceSystem]
    countries: frozenset[Country]
    # The partner (its id here) that receives, for this sender, what is addressed to the
    # owner of its records: the reminder that a record's review date is near.
    notices_to: str | None = None

    def refuses(self, system: SourceSystem, country: str) -> tuple[str, str] | None:
        """(field, reason) when a record of ``system`` reported by ``country`` is not this
        sender's to report; None when it is."""
        if system not in self.systems:
            return "source_system", f"{self.id} does not report {system.value} records"
        if ANY not in self.countries and country not in self.countries:
            return "reporting_country", f"{self.id} does not report for {country}"
        return None


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    partners: tuple[Partner, ...]
    # The senders bound to what they may report; a sender not listed is bound to nothing.
    senders: tuple[Sender, ...] = ()
    # Days a record is held after it came in when its provider set no retention_until, per
    # payload kind; kinds not given keep DEFAULT_MAX_RETENTION_DAYS.
    max_retention_days: dict[PayloadKind, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    # How many days before a record's review_date its owner is reminded to review it.
    review_notice_days: int = Field(default=30, gt=0)
    _digest: str = PrivateAttr(default="")
    _source: bytes = PrivateAttr(default=b"")

    def max_retention(self, kind: PayloadKind) -> timedelta:
        """How long a record of ``kind`` without a retention date of its own is held."""
        return timedelta(days=self.max_retention_days.get(kind, DEFAULT_MAX_RETENTION_DAYS[kind]))

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the policy file this was loaded from: which policy decided
        (every audit record names it); empty for a policy built in code."""
        return self._digest

    @property
    def source(self) -> bytes:
        """The policy file's bytes, as they were loaded; empty for a policy built in code."""
        return self._source

    @model_validator(mode="after")
    def _unique(self) -> RoutingPolicy:
        for attribute in ("id", "topic"):
            values = [getattr(p, attribute) for p in self.partners]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"duplicate partner {attribute}: {', '.join(duplicates)}")
        known = {p.id for p in self.partners}
        for sender in self.senders:
            if sender.notices_to is not None and sender.notices_to not in known:
                raise ValueError(
                    f"sender {sender.id}: notices_to {sender.notices_to} is not a partner"
                )
        return self

    def notices_partner(self, sender_id: str | None) -> Partner | None:
        """The partner that receives notices for the owner ``sender_id``, if any."""
        for sender in self.senders:
            if sender.id == sender_id and sender.notices_to is not None:
                return self.partner(sender.notices_to)
        return None

    def partner(self, partner_id: str) -> Partner:
        for partner in self.partners:
            if partner.id == partner_id:
                return partner
        raise KeyError(partner_id)


def load_policy(path: Path = DEFAULT_POLICY) -> RoutingPolicy:
    """The policy in ``path``, or a ConfigurationError naming every problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"routing policy {path} does not exist") from None
    return parse_policy(raw, str(path))


def parse_policy(raw: bytes, origin: str) -> RoutingPolicy:
    """The policy whose file content is ``raw`` (``origin`` names it in errors)."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigurationError(f"routing policy {origin} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"routing policy {origin} is not valid TOML: {exc}") from None
    except ValueError:  # a number past Python's digit limit
        raise ConfigurationError(
            f"routing policy {origin} is not valid TOML: a number too long to read"
        ) from None
    except RecursionError:  # tomllib bounds no nesting
        raise ConfigurationError(
            f"routing policy {origin} is not valid TOML: nested too deep to read"
        ) from None
    try:
        policy = RoutingPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            location = list(error["loc"])
            if len(location) >= 2 and location[0] == "partners" and isinstance(location[1], int):
                location = [_partner_name(data, location[1]), *location[2:]]
            problems.append(f"{'.'.join(map(str, location)) or 'policy'}: {error['msg']}")
        raise ConfigurationError(
            f"routing policy {origin} is refused:\n  " + "\n  ".join(problems)
        ) from None
    policy._digest = policy_digest(raw)
    policy._source = raw
    return policy


def _partner_name(data: dict[str, Any], index: int) -> str:
    """How an error names the partner at ``index``: its id if it has a readable one."""
    partners = data.get("partners")
    entry = partners[index] if isinstance(partners, list) and index < len(partners) else None
    given = entry.get("id") if isinstance(entry, dict) else None
    return f"partner {given if isinstance(given, str) and given else f'#{index + 1}'}"


def policy_digest(raw: bytes) -> str:
    """How audit records name the policy file ``raw``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def declared_topics(policy: RoutingPolicy) -> tuple[TopicSpec, ...]:
    """Every topic a deployment needs: the fixed ones and one per partner of the policy."""
    return (*TOPICS, *(partner_topic(partner.topic) for partner in policy.partners))


def policy_path(settings: Settings) -> Path:
    """The routing policy file these settings name (``policy/routing.toml`` by default)."""
    return settings.routing_policy or DEFAULT_POLICY


def policy_of(settings: Settings) -> RoutingPolicy:
    """The routing policy these settings name, loaded and checked."""
    return load_policy(policy_path(settings))
