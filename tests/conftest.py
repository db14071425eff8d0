"""Settings for every test.

Hypothesis would fail an example that takes longer than 200 ms: a timing assertion, which
on a shared two-core machine (CI runs one) fails at random under load. Liaison's tests
assert behaviour; speed belongs to the benchmark. So no example has a deadline here."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("liaison", deadline=None)
settings.load_profile("liaison")
