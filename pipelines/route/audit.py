"""The delivery audit record: one per disclosure of one event version to one partner."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from liaison.model.common import Event
from liaison.model.exchange import DeliveryAudit
from pipelines.route.decide import Delivery

__all__ = ["audit_record"]

_AUDIT_NAMESPACE = uuid.UUID("9a7c5e31-4b2d-5f60-8e1a-3c5d7f9b1a2c")


def audit_record(
    event: Event,
    delivery: Delivery,
    *,
    channel: str,
    decided_at: datetime,
    disclosed_by: str,
    policy_digest: str | None = None,
    content: bytes | None = None,
) -> DeliveryAudit:
    """The audit record of ``delivery``: which policy decided (its digest) and a hash of the
    bytes ``content`` the partner receives. It carries the event id of what the partner
    received (a restriction notice has its own) and names the record ``event`` is a version
    of; its id is derived from that event id and the partner, so a delivery repeated after
    a crash is recognisably the same disclosure."""
    envelope = event.envelope
    partner = delivery.partner
    sent = delivery.event.envelope.event_id
    return DeliveryAudit(
        audit_id=uuid.uuid5(_AUDIT_NAMESPACE, f"{sent}:{partner.id}"),
        event_id=sent,
        source_system=envelope.source_system,
        source_record_id=envelope.source_record_id,
        event_version=envelope.version,
        operation=envelope.operation,
        partner_id=partner.id,
        channel=channel,
        rule_id=delivery.rule_id,
        legal_basis=partner.legal_basis,
        purpose=partner.purpose,
        fields_removed=delivery.removed_fields,
        # The conditions of what was disclosed (a restriction notice has its own).
        handling_code=delivery.event.envelope.handling.handling_code,
        tlp=delivery.event.envelope.handling.tlp,
        decided_at=decided_at,
        disclosed_by=disclosed_by,
        policy_digest=policy_digest or None,
        content_sha256=hashlib.sha256(content).hexdigest() if content is not None else None,
        submitted_by=envelope.submitted_by,
    )
