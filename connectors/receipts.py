"""The receipt a sink writes for each record it took from a partner topic."""

from __future__ import annotations

import uuid
from typing import Protocol

from confluent_kafka import Message

from liaison.model.common import Event
from liaison.model.exchange import DeliveryReceipt, ReceiptOutcome
from liaison.timestamps import utc_now

__all__ = ["receipt_of"]

_RECEIPT_NAMESPACE = uuid.UUID("2e8c4a61-7b3f-5d90-a1c2-6f4e8b0d3a95")


class _Named(Protocol):
    name: str


class _Sink(Protocol):
    partner: str

    @property
    def task(self) -> _Named: ...


def receipt_of(
    sink: _Sink,
    message: Message,
    event: Event | None,
    outcome: ReceiptOutcome,
    reason: str | None,
) -> DeliveryReceipt:
    """The receipt for ``message``: its id is derived from the sink and the record's place,
    so a receipt written again after a restart keeps its id."""
    envelope = event.envelope if event is not None else None
    name = sink.task.name
    place = f"{name}/{message.topic()}/{message.partition()}/{message.offset()}"
    return DeliveryReceipt(
        receipt_id=uuid.uuid5(_RECEIPT_NAMESPACE, place),
        event_id=envelope.event_id if envelope else None,
        source_system=envelope.source_system if envelope else None,
        source_record_id=envelope.source_record_id if envelope else None,
        event_version=envelope.version if envelope else None,
        partner_id=sink.partner,
        sink=name,
        source_topic=message.topic() or "",
        source_partition=message.partition() or 0,
        source_offset=message.offset() or 0,
        outcome=outcome,
        reason=reason,
        received_at=utc_now(),
    )
