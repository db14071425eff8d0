"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from liaison.model.common import HandlingConditions, SienaHandlingCode, TlpLevel
from liaison.policy import load_policy

PARTNERS = [p.id for p in load_policy().partners]


@st.composite
def handlings(draw: st.DrawFn) -> HandlingConditions:
    code = draw(st.sampled_from(SienaHandlingCode))
    tlp = draw(st.sampled_from(TlpLevel))
    restricted = code is SienaHandlingCode.H2 or tlp is TlpLevel.RED
    named = draw(st.lists(st.sampled_from(PARTNERS), min_size=1 if restricted else 0, unique=True))
    return HandlingConditions(
        handling_code=code,
        restrictions=draw(st.sampled_from(["no onward sharing", "discreet check only"]))
        if code is SienaHandlingCode.H3
        else None,
        tlp=tlp,
        releasable_to=tuple(named) if restricted or draw(st.booleans()) else (),
        purpose=draw(st.sampled_from(["drug trafficking", "firearms trafficking"])),
        legal_basis=draw(st.sampled_from(["Regulation (EC) 515/97", "Naples II"])),
        review_date=draw(st.none() | st.dates(date(2026, 1, 1), date(2030, 1, 1))),
        retention_until=draw(st.none() | st.dates(date(2026, 1, 1), date(2035, 1, 1))),
    )
