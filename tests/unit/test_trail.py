"""The audit trail counts a delivery once, however often at-least-once wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipelines.trail import RecordTrail, _drop_repeats

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _audit(n: int) -> dict[str, object]:
    return {
        "audit_id": f"audit-{n}",
        "decided_at": START + timedelta(seconds=n),
        "partner_id": ("EUROPOL", "OLAF", "DE-BKA")[n % 3],
        "rule_id": f"rule-{n % 4}",
        "fields_removed": ["persons"] if n % 2 else [],
        "handling_code": "H2",
        "tlp": "AMBER",
        "content_sha256": f"{n:064x}",
        "policy_digest": "sha256:policy",
    }


def _receipt(n: int) -> dict[str, object]:
    return {
        "receipt_id": f"receipt-{n}",
        "received_at": START + timedelta(seconds=n, milliseconds=500),
        "partner_id": "EUROPOL",
        "outcome": "accepted",
        "sink": "http",
        "reason": "",
    }


def _trail(audits: list[int], receipts: list[int]) -> RecordTrail:
    trail = RecordTrail("NCEN", "NL-NCEN-2026-004711")
    version = trail.version(1)
    version.deliveries = [_audit(n) for n in audits]
    version.receipts = [_receipt(n) for n in receipts]
    _drop_repeats(trail)
    return trail


@given(
    audits=st.lists(st.integers(0, 20), min_size=1, max_size=40),
    receipts=st.lists(st.integers(0, 20), max_size=40),
)
def test_a_delivery_written_twice_is_shown_once(audits, receipts):
    once = _trail(sorted(set(audits)), sorted(set(receipts)))
    repeated = _trail(audits, receipts)
    assert len(repeated.versions[1].deliveries) == len(set(audits))
    assert len(repeated.versions[1].receipts) == len(set(receipts))
    assert repeated.lines() == once.lines()
