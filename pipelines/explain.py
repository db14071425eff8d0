"""Past decisions explained under the policy that made them (``liaison route explain --past``).

A delivery's audit record names the rule, the fields removed, the conditions of what was
sent, the hash of the bytes and the digest of the policy; the policies topic
(:mod:`pipelines.route.versions`) keeps that policy's file. Together they say why the
partner received what it did, in the terms of the policy of the day, whatever the policy
says now. The record's content is not needed, and not kept here: its hash is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liaison.errors import ConfigurationError
from liaison.policy import Partner, RoutingPolicy, parse_policy
from liaison.settings import Settings
from pipelines.route.decide import RETENTION_RULE
from pipelines.route.retention import REVIEW_RULE
from pipelines.route.versions import kept_policies
from pipelines.trail import read_trail

__all__ = ["explain_past", "past_lines", "rule_meaning"]


def rule_meaning(rule_id: str) -> str:
    """What a rule id means, in words."""
    if rule_id == RETENTION_RULE:
        return (
            "the record passed its retention date: every partner that held it is told to erase it"
        )
    if rule_id == REVIEW_RULE:
        return "the record's review date is near: its owner is reminded to review it"
    partner, _, rest = rule_id.partition("/")
    if rest == "restriction-notice":
        return (
            f"{partner} received an earlier version and may not have this one: it is told to "
            "restrict or erase what it holds, and gets nothing of the content (LED Art. 7(3))"
        )
    if rest == "named-recipient":
        return (
            f"the record is H2 or TLP:RED or names its recipients, and names {partner}: "
            "areas and countries do not apply"
        )
    kind, _, areas = rest.partition("/")
    scope = f" of {areas.replace('+', ', ')}" if areas else ""
    return (
        f"{partner} receives {kind}{scope} within its sources, handling codes, TLP, areas "
        "and countries"
    )


def _removed(fields: list[str], partner: Partner | None) -> str:
    if not fields:
        return "nothing"
    if fields == ["payload"]:
        return "payload (a notice carries no content)"
    if partner is None:
        return ", ".join(fields)
    why = (
        "it takes no personal data"
        if not partner.personal_data or partner.kind == "cen"
        else "it takes personal data about "
        + ", ".join(sorted(c.value for c in partner.subject_categories))
        + " only"
    )
    return f"{', '.join(fields)} ({why})"


def _entitlement(partner: Partner) -> list[str]:
    def listed(values: Any) -> str:
        return ", ".join(sorted(str(getattr(v, "value", v)) for v in values))

    personal = (
        f"about {listed(partner.subject_categories)}"
        if partner.personal_data and partner.kind != "cen"
        else "none (persons are removed)"
    )
    return [
        f"    {partner.id} ({partner.name}): {partner.legal_basis}; purpose: {partner.purpose}",
        f"      receives {listed(partner.payloads)} from {listed(partner.sources)}",
        f"      areas {listed(partner.areas)}; countries {listed(partner.countries)}",
        f"      handling codes {listed(partner.handling_codes)}; TLP {listed(partner.tlp)}",
        f"      personal data: {personal}",
    ]


def past_lines(
    record: str,
    audits: list[dict[str, Any]],
    policies: Mapping[str, bytes],
    today: RoutingPolicy | None = None,
) -> list[str]:
    """The explanation of the audited deliveries ``audits`` of ``record``, each under the
    policy its record names (from ``policies``, files by digest)."""
    if not audits:
        return [f"{record}: no audited delivery matches"]
    out: list[str] = []
    for audit in sorted(
        audits, key=lambda a: (a["event_version"], a["decided_at"], a["partner_id"])
    ):
        digest = audit.get("policy_digest") or ""
        policy, problem = _policy(digest, policies)
        partner = _partner(policy, audit["partner_id"])
        form = "a notice" if audit["fields_removed"] == ["payload"] else "the record"
        out += [
            f"{record} version {audit['event_version']} ({audit['operation']}) to "
            f"{audit['partner_id']} at {audit['decided_at']:%Y-%m-%dT%H:%M:%SZ}: {form}",
            f"  rule {audit['rule_id']}: {rule_meaning(audit['rule_id'])}",
            f"  sent {audit['handling_code']}/TLP:{audit['tlp']}; removed: "
            f"{_removed(list(audit['fields_removed']), partner)}",
            f"  sha256 {audit.get('content_sha256') or '-'}; submitted by "
            f"{audit.get('submitted_by') or '-'}; decided by {audit['disclosed_by']}",
        ]
        if policy is None:
            out.append(f"  policy {digest or '(not named)'}: {problem}")
            continue
        same = today is not None and today.digest == digest
        now = "today's policy" if same else "not today's policy"
        out.append(f"  policy {digest} (version {policy.version}, {now}); under it:")
        out += (
            _entitlement(partner)
            if partner is not None
            else [f"    {audit['partner_id']} is not a partner of that policy"]
        )
    return out


def _policy(digest: str, policies: Mapping[str, bytes]) -> tuple[RoutingPolicy | None, str]:
    if not digest:
        return (
            None,
            "the audit record names no policy (it was decided under a policy built in code)",
        )
    raw = policies.get(digest)
    if raw is None:
        return None, "not on the policies topic: only the audit record explains this decision"
    try:
        return parse_policy(raw, digest[:19]), ""
    except ConfigurationError as exc:
        return None, f"kept, but this version of Liaison cannot read it: {exc}"


def _partner(policy: RoutingPolicy | None, partner_id: str) -> Partner | None:
    if policy is None:
        return None
    try:
        return policy.partner(partner_id)
    except KeyError:
        return None


def explain_past(
    settings: Settings,
    record: str,
    *,
    version: int | None = None,
    partner: str | None = None,
    today: RoutingPolicy | None = None,
    bootstrap: str | None = None,
) -> list[str]:
    """Every audited delivery of ``record`` (of one version, to one partner, if given),
    explained under the policy that decided it."""
    trail = read_trail(settings, record, bootstrap)
    audits = [
        audit
        for number, kept in trail.versions.items()
        if version is None or number == version
        for audit in kept.deliveries
        if partner is None or audit["partner_id"] == partner
    ]
    return past_lines(record, audits, kept_policies(settings, bootstrap), today)
