"""The one way every part builds a dead letter: the input whole, where it was, and why.

A dead letter's id follows one rule everywhere: it is derived from the stage that gave up,
where the input was (a topic, partition and offset; a file and line; an HTTP path) and a
digest of the input's bytes. The same input failing again at the same place, a record read
again after a restart or a body or file sent again, gets the same id, so a reader of the
dead-letter topic can tell a repeat from a new failure.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from liaison.model.exchange import DeadLetter, Header
from liaison.timestamps import utc_now

__all__ = ["dead_letter", "dead_letter_id"]

_NAMESPACE = uuid.UUID("0d3c1f8e-2b47-5a6c-8d9e-7f1a2b3c4d5e")


def dead_letter_id(
    stage: str, source: str, partition: int | None, offset: int | None, value: bytes
) -> uuid.UUID:
    digest = hashlib.sha256(value).hexdigest()
    return uuid.uuid5(_NAMESPACE, f"{stage}|{source}|{partition}|{offset}|{digest}")


def dead_letter(
    *,
    value: bytes | None,
    stage: str,
    kind: str,
    reason: str,
    source: str,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    headers: Iterable[tuple[str, bytes | None]] = (),
) -> DeadLetter:
    """The dead letter of one input. ``kind`` is the error class (a bounded word such as
    ``ValidationError``), ``reason`` the message; neither may quote personal data.
    ``source`` is the topic the input was read from, or for an input from outside Kafka
    the connector and the place it came in (``cen-source:<file>``)."""
    original = value or b""
    return DeadLetter(
        dead_letter_id=dead_letter_id(stage, source, partition, offset, original),
        original_value=original,
        original_key=key,
        original_headers=tuple(
            Header(key=str(k), value=v if isinstance(v, bytes) else None) for k, v in headers
        ),
        source_topic=source,
        source_partition=partition,
        source_offset=offset,
        stage=stage,
        error_class=kind,
        error_message=reason,
        failed_at=utc_now(),
    )
