"""A past delivery is explained under the policy its audit record names, not today's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.model.common import SienaHandlingCode
from liaison.policy import DEFAULT_POLICY, load_policy, parse_policy
from pipelines.explain import past_lines

TODAY = load_policy()
TEXT = DEFAULT_POLICY.read_text()


def _audit(partner: str, digest: str, rule: str | None = None) -> dict[str, Any]:
    return {
        "event_version": 2,
        "operation": "CORRECTION",
        "partner_id": partner,
        "decided_at": datetime(2026, 11, 20, 9, 3, tzinfo=UTC),
        "rule_id": rule or f"{partner}/seizure/DRUGS",
        "fields_removed": ["payload.persons"],
        "handling_code": "H1",
        "tlp": "AMBER",
        "content_sha256": "ab" * 32,
        "submitted_by": "NL-NCEN-GATEWAY",
        "disclosed_by": "liaison-pipeline",
        "policy_digest": digest,
    }


def _with_codes(partner_id: str, codes: list[str]) -> bytes:
    """Today's policy file with ``partner_id``'s handling codes replaced."""
    start = TEXT.index(f'[[partners]]\nid = "{partner_id}"')
    end = TEXT.find("[[", start + 1)
    end = len(TEXT) if end < 0 else end
    block = TEXT[start:end]
    changed = re.sub(
        r"handling_codes = \[[^\]]*\]",
        "handling_codes = [" + ", ".join(f'"{c}"' for c in codes) + "]",
        block,
        count=1,
    )
    assert changed != block or codes == sorted(
        c.value for c in TODAY.partner(partner_id).handling_codes
    )
    return (TEXT[:start] + changed + TEXT[end:]).encode()


@settings(max_examples=25, deadline=None)
@given(
    partner=st.sampled_from([p.id for p in TODAY.partners]),
    codes=st.lists(st.sampled_from([c.value for c in SienaHandlingCode]), min_size=1, unique=True),
)
def test_the_entitlement_shown_is_the_deciding_policys(partner, codes):
    codes = sorted(codes)
    then = _with_codes(partner, codes)
    kept = parse_policy(then, "kept")
    lines = past_lines("NCEN:R-1", [_audit(partner, kept.digest)], {kept.digest: then}, TODAY)
    text = "\n".join(lines)
    assert f"handling codes {', '.join(codes)};" in text
    same = kept.digest == TODAY.digest
    assert (", today's policy)" in text) == same
    assert ("not today's policy" in text) == (not same)


def test_a_policy_not_kept_or_not_matching_is_said_so_and_the_audit_still_shown():
    audit = _audit("EUROPOL", "sha256:" + "0" * 64)
    lines = past_lines("NCEN:R-1", [audit], {}, TODAY)
    assert any("not on the policies topic" in line for line in lines)
    assert any("rule EUROPOL/seizure/DRUGS" in line for line in lines)
    assert not any(line.lstrip().startswith("handling codes") for line in lines)
    unnamed = past_lines("NCEN:R-1", [_audit("EUROPOL", "")], {}, TODAY)
    assert any("names no policy" in line for line in unnamed)
    # A partner the deciding policy did not have is not described from today's.
    gone = _audit("NOT-A-PARTNER", TODAY.digest)
    lines = past_lines("NCEN:R-1", [gone], {TODAY.digest: TEXT.encode()}, TODAY)
    assert any("NOT-A-PARTNER is not a partner of that policy" in line for line in lines)


def test_why_fields_were_removed_follows_the_partners_personal_data_terms():
    keep = {TODAY.digest: TEXT.encode()}
    cen = "\n".join(past_lines("NCEN:R-1", [_audit("WCO-CEN", TODAY.digest)], keep, TODAY))
    assert "payload.persons (it takes no personal data)" in cen
    europol = TODAY.partner("EUROPOL")
    allowed = ", ".join(sorted(c.value for c in europol.subject_categories))
    lines = past_lines("NCEN:R-1", [_audit("EUROPOL", TODAY.digest)], keep, TODAY)
    assert f"(it takes personal data about {allowed} only)" in "\n".join(lines)
