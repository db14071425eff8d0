"""The history of one record, as the topics hold it: every version the pipeline decided on,
who received which form of it (in full, or a restriction notice), under which rule and
policy, with the hash of what was sent; what the sinks' far side did with it (receipts); who
was refused and why; what was dropped.

``liaison audit trail SYSTEM:RECORD_ID`` prints it. It reads the audit and outcomes topics
from their start, so it answers for as long as they keep their records (the audit topic
keeps them for years; see ``liaison topics list``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_AUDIT, DELIVERY_RECEIPT, PIPELINE_OUTCOME
from liaison.kafka.client import read_to_end
from liaison.kafka.topics import AUDIT, PIPELINE_OUTCOMES, RECEIPTS
from liaison.settings import Settings

__all__ = ["RecordTrail", "VersionTrail", "read_trail"]

NOTICE_RULE = "/restriction-notice"


@dataclass
class VersionTrail:
    """What became of one version of a record."""

    version: int
    operation: str = ""
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # audit records
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # refusals and drops
    receipts: list[dict[str, Any]] = field(default_factory=list)  # what the sinks' far side did


@dataclass
class RecordTrail:
    source_system: str
    record_id: str
    versions: dict[int, VersionTrail] = field(default_factory=dict)

    def version(self, number: int) -> VersionTrail:
        return self.versions.setdefault(number, VersionTrail(number))

    def lines(self) -> list[str]:
        """The trail for a person to read, oldest version first."""
        out = [f"{self.source_system}:{self.record_id}"]
        if not self.versions:
            return [*out, "  nothing on the audit or outcomes topics"]
        for number in sorted(self.versions):
            trail = self.versions[number]
            out.append(f"  version {number} {trail.operation}".rstrip())
            for audit in sorted(trail.deliveries, key=lambda a: (a["decided_at"], a["partner_id"])):
                form = "notice" if audit["rule_id"].endswith(NOTICE_RULE) else "in full"
                removed = ", ".join(audit["fields_removed"]) or "nothing"
                out.append(
                    f"    {audit['decided_at']:%Y-%m-%dT%H:%M:%SZ}  {audit['partner_id']:12} "
                    f"{form:7}  rule {audit['rule_id']}; removed: {removed}; "
                    f"{audit['handling_code']}/TLP:{audit['tlp']}; "
                    f"sha256 {(audit.get('content_sha256') or '-')[:16]}; "
                    f"policy {(audit.get('policy_digest') or '-')[:19]}"
                )
            for receipt in sorted(trail.receipts, key=lambda r: r["received_at"]):
                why = f": {receipt['reason']}" if receipt["reason"] else ""
                out.append(
                    f"    {receipt['received_at']:%Y-%m-%dT%H:%M:%SZ}  {receipt['partner_id']:12} "
                    f"receipt  {receipt['outcome']} by {receipt['sink']}{why}"
                )
            for outcome in trail.outcomes:
                verdict = outcome["outcome"]
                if verdict in ("refused", "no-recipient"):
                    for part in filter(None, outcome["reason"].split("; ")):
                        partner, _, why = part.partition(": ")
                        if why:
                            out.append(f"    refused  {partner:12} {why}")
                        else:  # a note that belongs to the refusal before it
                            out[-1] += f"; {part}"
                else:
                    out.append(f"    {verdict}: {outcome['reason']}")
        return out


def read_trail(settings: Settings, record_key: str, bootstrap: str | None = None) -> RecordTrail:
    """Everything the audit and outcomes topics say about ``SYSTEM:RECORD_ID``."""
    system, sep, record_id = record_key.partition(":")
    if not sep or not record_id:
        raise ValueError("a record is named SYSTEM:RECORD_ID, e.g. NCEN:NL-NCEN-2026-004711")
    trail = RecordTrail(system, record_id)
    prefix = settings.topic_prefix
    topics = [AUDIT.full_name(prefix), PIPELINE_OUTCOMES.full_name(prefix)]
    topics.append(RECEIPTS.full_name(prefix))
    codecs = dict(
        zip(
            topics,
            map(AvroCodec, (DELIVERY_AUDIT, PIPELINE_OUTCOME, DELIVERY_RECEIPT)),
            strict=True,
        )
    )
    for topic, value in _values(read_to_end(settings, topics, bootstrap)):
        record = codecs[topic].decode(value)
        if (record["source_system"], record["source_record_id"]) != (system, record_id):
            continue
        if topic == topics[0]:
            version = trail.version(record["event_version"])
            version.operation = record["operation"]
            version.deliveries.append(record)
        elif topic == topics[1]:
            trail.version(record["version"]).outcomes.append(record)
        else:
            trail.version(record["event_version"]).receipts.append(record)
    _drop_repeats(trail)
    return trail


def _values(messages: Iterable[Any]) -> Iterable[tuple[str, bytes]]:
    for message in messages:
        yield message.topic() or "", message.value() or b""


def _drop_repeats(trail: RecordTrail) -> None:
    """At-least-once: a decision made twice (a restart) is written twice; show it once."""
    for version in trail.versions.values():
        version.deliveries = _unique(version.deliveries, "audit_id")
        version.receipts = _unique(version.receipts, "receipt_id")
        seen: set[tuple[str, str]] = set()
        kept = []
        for outcome in version.outcomes:
            mark = (outcome["outcome"], outcome["reason"])
            if mark not in seen:
                seen.add(mark)
                kept.append(outcome)
        version.outcomes = kept


def _unique(records: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    by_id: dict[Any, dict[str, Any]] = defaultdict(dict)
    for record in records:
        by_id[record[key]] = record
    return list(by_id.values())
