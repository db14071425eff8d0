"""Handling conditions of derived data: what Liaison makes from two records takes the
strictest terms of both.

A watchlist hit is about a customs record and a police alert; whoever receives it learns
something of each. So its conditions are those of both providers at once:

- the higher SIENA handling code (H0 < H1 < H2 < H3) and the stricter TLP level
  (CLEAR < GREEN < AMBER < AMBER+STRICT < RED);
- named recipients: where both providers named recipients, only those both named (none in
  common: TLP:RED with nobody named, so no one); where one did, that one's. Named recipients
  bind whatever the code: a record whose provider named its recipients goes to them only;
- the H3 restrictions of both, the purposes and legal bases of both;
- the earlier review date and the earlier retention date;
- the weaker evaluation: the less reliable source and the less certain information, and no
  evaluation at all when either side has none (an unevaluated input cannot be vouched for).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from liaison.model.common import (
    EvaluationCodes,
    HandlingConditions,
    InformationAccuracy,
    SienaHandlingCode,
    SourceReliability,
    TlpLevel,
)

__all__ = ["CODE_ORDER", "TLP_ORDER", "strictest", "weaker_evaluation"]

CODE_ORDER = (
    SienaHandlingCode.H0,
    SienaHandlingCode.H1,
    SienaHandlingCode.H2,
    SienaHandlingCode.H3,
)
TLP_ORDER = (TlpLevel.CLEAR, TlpLevel.GREEN, TlpLevel.AMBER, TlpLevel.AMBER_STRICT, TlpLevel.RED)
_RELIABILITY = (SourceReliability.A, SourceReliability.B, SourceReliability.C, SourceReliability.X)
_ACCURACY = (
    InformationAccuracy.ACCURACY_1,
    InformationAccuracy.ACCURACY_2,
    InformationAccuracy.ACCURACY_3,
    InformationAccuracy.ACCURACY_4,
)


def _joined(texts: Iterable[str | None]) -> str:
    """Each distinct text once, in order: both providers' terms apply."""
    return "; ".join(dict.fromkeys(t for t in texts if t))


def _earlier(a: date | None, b: date | None) -> date | None:
    present = [d for d in (a, b) if d is not None]
    return min(present) if present else None


def _recipients(a: HandlingConditions, b: HandlingConditions) -> tuple[str, ...]:
    if a.releasable_to and b.releasable_to:
        return tuple(sorted(set(a.releasable_to) & set(b.releasable_to)))
    return tuple(sorted(a.releasable_to or b.releasable_to))


def strictest(a: HandlingConditions, b: HandlingConditions) -> HandlingConditions:
    """The conditions under which data derived from data held under ``a`` and under ``b``
    may be shared: every restriction of either holds. Where both named recipients and none
    is named by both, it is TLP:RED with nobody named: for no one."""
    recipients = _recipients(a, b)
    tlp = max(a.tlp, b.tlp, key=TLP_ORDER.index)
    if a.releasable_to and b.releasable_to and not recipients:
        tlp = TlpLevel.RED
    return HandlingConditions(
        handling_code=max(a.handling_code, b.handling_code, key=CODE_ORDER.index),
        restrictions=_joined((a.restrictions, b.restrictions)) or None,
        tlp=tlp,
        releasable_to=recipients,
        purpose=_joined((a.purpose, b.purpose)),
        legal_basis=_joined((a.legal_basis, b.legal_basis)),
        review_date=_earlier(a.review_date, b.review_date),
        retention_until=_earlier(a.retention_until, b.retention_until),
    )


def weaker_evaluation(
    a: EvaluationCodes | None, b: EvaluationCodes | None
) -> EvaluationCodes | None:
    """The evaluation derived data can claim: the weaker of each code, none without both."""
    if a is None or b is None:
        return None
    return EvaluationCodes(
        source_reliability=max(a.source_reliability, b.source_reliability, key=_RELIABILITY.index),
        information_accuracy=max(
            a.information_accuracy, b.information_accuracy, key=_ACCURACY.index
        ),
    )
