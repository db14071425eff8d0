"""Times as the schemas keep them: UTC, to the millisecond (``timestamp-millis``).

A time with finer precision would not survive a round trip through Avro, so every
time Liaison makes or reads is cut to the millisecond here, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["to_millis", "utc_now"]


def to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, without its sub-millisecond part."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    return to_millis(datetime.now(UTC))
