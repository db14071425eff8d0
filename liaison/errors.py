"""The exception tree shared by every part of Liaison.

::

    LiaisonError
     ├── ConfigurationError          settings or declarations that cannot work
     ├── EmbeddedKafkaError          the local broker launcher
     │    ├── ToolchainError         java or mvn missing, or jars not resolvable
     │    └── BrokerStartError       the broker did not come up (carries its log tail)
     ├── TopicError                  declared topics disagree with the cluster
     ├── SchemaError                 a schema file that does not parse or breaks a rule
     ├── SerdeError                  a message that cannot be encoded or decoded
     │    ├── MessageTooLargeError   over the size bound, refused before decoding
     │    ├── BadMarkerError         not Avro single-object encoding
     │    ├── TruncatedMessageError  ends before the header or the body does
     │    ├── UnknownFingerprintError  written with a schema no version here knows
     │    ├── InvalidMessageError    the body does not decode under its schema
     │    └── EncodeError            a value that does not fit the schema
     ├── MappingError                an external record that does not map to an event
     ├── BadEventError               a record on a topic that is no usable event (a dead letter)
     ├── DeliveryError               Kafka refused a record for good
     ├── DeliveryRefusedError        a sink's far side (or the sink) refused an event for good
     └── RetriableError              worth trying again later (timeouts, brokers away)
          ├── FlushTimeoutError      records still in flight when shutdown gave up
          └── EndpointUnavailableError  a sink's far side failed in a way worth retrying

Data problems (a record that cannot be decoded, validated or mapped) are not
raised out of a stream: they become dead letters. The classes here are for the
faults around the data.
"""

from __future__ import annotations

__all__ = [
    "BadEventError",
    "BadMarkerError",
    "BrokerStartError",
    "ConfigurationError",
    "DeliveryError",
    "DeliveryRefusedError",
    "EmbeddedKafkaError",
    "EncodeError",
    "EndpointUnavailableError",
    "FlushTimeoutError",
    "InvalidMessageError",
    "LiaisonError",
    "MappingError",
    "MessageTooLargeError",
    "RetriableError",
    "SchemaError",
    "SerdeError",
    "ToolchainError",
    "TopicError",
    "TruncatedMessageError",
    "UnknownFingerprintError",
]


class LiaisonError(Exception):
    """Base of every error that Liaison raises on purpose."""


class ConfigurationError(LiaisonError):
    """Settings, environment or declarations that cannot work as given."""


class EmbeddedKafkaError(LiaisonError):
    """The embedded broker could not be prepared, started or stopped."""


class ToolchainError(EmbeddedKafkaError):
    """Java or Maven is missing or too old, or the broker jars did not resolve."""


class BrokerStartError(EmbeddedKafkaError):
    """The broker process exited or never answered; carries the end of its logs."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        full = message if not log_tail else f"{message}\n--- broker log ---\n{log_tail}"
        super().__init__(full)


class TopicError(LiaisonError):
    """The cluster's topics disagree with the declaration in ``liaison.kafka.topics``."""


class SchemaError(LiaisonError):
    """A schema file that does not parse, or breaks one of the project's schema rules."""


class SerdeError(LiaisonError):
    """A message that cannot be encoded or decoded; the reason names fields, never values."""


class MessageTooLargeError(SerdeError):
    """The message is larger than the bound, so it was not decoded at all."""


class BadMarkerError(SerdeError):
    """The message does not start with the Avro single-object marker C3 01."""


class TruncatedMessageError(SerdeError):
    """The message ends inside its header or its body."""


class UnknownFingerprintError(SerdeError):
    """The message names a writer schema (by fingerprint) that no known version has."""


class InvalidMessageError(SerdeError):
    """The body does not decode under the writer schema its fingerprint names."""


class EncodeError(SerdeError):
    """A value that does not fit the schema it is to be written with."""


class MappingError(LiaisonError):
    """An external record (a CSV row, a JSON body) that does not map to an event.

    ``field`` names the external field; the message never quotes its value.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class BadEventError(LiaisonError):
    """A record that is not a usable event: it goes to the dead-letter topic.

    ``kind`` is the dead letter's error class (``InvalidMessageError``, ``ValidationError``,
    ``MissingKey``); ``reason`` says why, naming fields and never quoting values.
    """

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


class DeliveryError(LiaisonError):
    """Kafka rejected a record permanently (for example: unknown topic, too large)."""


class DeliveryRefusedError(LiaisonError):
    """An event a sink will never deliver: the far side refused it, or it must not go there.

    ``kind`` becomes the dead letter's error class; the message never quotes the event.
    """

    def __init__(self, reason: str, kind: str = "DeliveryRejected") -> None:
        self.kind = kind
        super().__init__(reason)


class RetriableError(LiaisonError):
    """A transient fault: the same operation may succeed if tried again."""


class FlushTimeoutError(RetriableError):
    """Records were still unacknowledged when a producer's flush deadline passed."""

    def __init__(self, remaining: int, timeout_s: float) -> None:
        self.remaining = remaining
        super().__init__(f"{remaining} record(s) still unacknowledged after {timeout_s:.1f}s flush")


class EndpointUnavailableError(RetriableError):
    """A sink's far side did not take an event this time (5xx, 429, a timeout, no route)."""
