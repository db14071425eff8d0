import dataclasses
from pathlib import Path

import pytest

from liaison.errors import ConfigurationError
from liaison.model.common import (
    DataSubjectCategory,
    Event,
    Operation,
    SienaHandlingCode,
    SourceSystem,
    TlpLevel,
)
from liaison.model.customs import CommodityArea, Seizure
from liaison.model.exchange import NoticeAction, NoticeReason, RestrictionNotice
from liaison.policy import DEFAULT_POLICY, load_policy
from pipelines.route.decide import NOTICE_HANDLING, route_decision, strip_personal
from stack.synthetic.generator import TrafficGenerator
from tests.samples import realistic_seizure

POLICY = load_policy()


def _with_handling(event: Event, **changes) -> Event:
    handling = dataclasses.replace(event.envelope.handling, **changes)
    return dataclasses.replace(
        event, envelope=dataclasses.replace(event.envelope, handling=handling)
    )


def _amber(event: Event) -> Event:
    return _with_handling(
        event, handling_code=SienaHandlingCode.H1, tlp=TlpLevel.AMBER, releasable_to=()
    )


def _seizure(event: Event) -> Seizure:
    assert isinstance(event.payload, Seizure)
    return event.payload


def test_the_shipped_policy_loads():
    assert {p.id for p in POLICY.partners} >= {"WCO-CEN", "EUROPOL", "OLAF", "NL-POLICE"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(text)
    return path


def test_a_policy_giving_cen_personal_data_is_refused(tmp_path):
    text = (
        DEFAULT_POLICY.read_text()
        .replace('kind = "cen"', 'kind = "cen"\nsubject_categories = ["SUSPECT"]', 1)
        .replace("personal_data = false", "personal_data = true", 1)
    )
    with pytest.raises(ConfigurationError, match=r"partner WCO-CEN.*non-nominal"):
        load_policy(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace('"DRUGS", "PRECURSORS"', '"DRUGZ", "PRECURSORS"', 1),
            "partner EUROPOL.areas",
        ),
        (lambda t: t.replace('id = "OLAF"', 'id = "EUROPOL"'), "duplicate partner id: EUROPOL"),
        (lambda t: t.replace('topic = "partner.olaf"', 'topic = "olaf"'), "partner OLAF.topic"),
        (lambda t: t + "\nsurprise = 1\n", "surprise"),
        (lambda t: t.replace("version = 1", "version = = 1", 1), "not valid TOML"),
    ],
)
def test_bad_policies_are_refused_with_the_place(tmp_path, change, message):
    with pytest.raises(ConfigurationError, match=message):
        load_policy(_write(tmp_path, change(DEFAULT_POLICY.read_text())))


def test_a_drug_seizure_in_rotterdam_reaches_the_partners_for_drugs_and_the_netherlands():
    decision = route_decision(_amber(realistic_seizure()), POLICY)
    assert decision.recipients == {
        "WCO-CEN",
        "EUROPOL",
        "INTERPOL",
        "WCO-RILO-WE",
        "NL-POLICE",
        "BE-CUSTOMS",
    }
    reasons = {r.partner_id: r.reason for r in decision.refusals}
    assert reasons["OLAF"] == "not for its commodity areas"
    assert reasons["DE-BKA"] == "not for its countries"
    assert reasons["UNESCO-CLT"] == "may not receive handling code H1"


def test_personal_data_goes_only_where_there_is_a_basis():
    event = _amber(realistic_seizure())
    forms = {d.partner.id: d for d in route_decision(event, POLICY).deliveries}
    for no_basis in ("WCO-CEN", "WCO-RILO-WE"):
        seizure = forms[no_basis].event.payload
        assert isinstance(seizure, Seizure)
        assert seizure.persons == ()
        assert forms[no_basis].removed_fields == ("payload.persons",)
        assert forms[no_basis].event.envelope.data_subject_categories == ()
    for with_basis in ("EUROPOL", "NL-POLICE", "BE-CUSTOMS"):
        assert forms[with_basis].event.payload == event.payload
        assert forms[with_basis].removed_fields == ()


def test_persons_are_filtered_by_the_categories_a_partner_may_receive():
    event = _amber(realistic_seizure())
    seizure = event.payload
    assert isinstance(seizure, Seizure)
    witness = dataclasses.replace(
        seizure.persons[0], category=DataSubjectCategory.WITNESS_OR_CONTACT
    )
    event = dataclasses.replace(
        event, payload=dataclasses.replace(seizure, persons=(*seizure.persons, witness))
    )
    forms = {d.partner.id: d for d in route_decision(event, POLICY).deliveries}
    interpol = forms["INTERPOL"].event  # suspects and convicted persons only
    assert [p.category for p in _seizure(interpol).persons] == [DataSubjectCategory.SUSPECT]
    assert forms["INTERPOL"].removed_fields == ("payload.persons (by category)",)
    assert interpol.envelope.data_subject_categories == (DataSubjectCategory.SUSPECT,)
    assert len(_seizure(forms["NL-POLICE"].event).persons) == 2


def test_h2_and_red_go_only_to_named_recipients():
    for changes in (
        {"handling_code": SienaHandlingCode.H2, "tlp": TlpLevel.AMBER},
        {"handling_code": SienaHandlingCode.H1, "tlp": TlpLevel.RED},
    ):
        named = _with_handling(realistic_seizure(), releasable_to=("EUROPOL", "DE-BKA"), **changes)
        decision = route_decision(named, POLICY)
        # DE-BKA is named: the Rotterdam seizure reaches it though not in its country.
        assert decision.recipients == {"EUROPOL", "DE-BKA"}, changes
        assert all(d.rule_id.endswith("/named-recipient") for d in decision.deliveries)


def test_a_named_recipient_still_needs_a_basis_for_the_payload():
    named = _with_handling(
        realistic_seizure(), handling_code=SienaHandlingCode.H2, releasable_to=("UNESCO-CLT",)
    )
    decision = route_decision(named, POLICY)
    assert decision.recipients == frozenset()
    assert {r.partner_id: r.reason for r in decision.refusals}["UNESCO-CLT"] == (
        "may not receive handling code H2"
    )


def test_every_later_version_reaches_every_earlier_recipient_in_full_or_as_a_notice():
    event = _amber(realistic_seizure())
    moved = dataclasses.replace(_seizure(event), commodity_area=CommodityArea.TOBACCO)
    for operation, action in (
        (Operation.UPSERT, NoticeAction.RESTRICT),
        (Operation.CORRECTION, NoticeAction.RESTRICT),
        (Operation.ERASURE, NoticeAction.ERASE),
    ):
        later = dataclasses.replace(
            event,
            payload=moved,
            envelope=dataclasses.replace(event.envelope, operation=operation, version=3),
        )
        decision = route_decision(
            later, POLICY, earlier_recipients=frozenset({"INTERPOL", "OLAF", "GONE"})
        )
        by_partner = {d.partner.id: d for d in decision.deliveries}
        # Tobacco is not INTERPOL's: it hears that its copy must go, and nothing else.
        notice = by_partner["INTERPOL"]
        assert notice.rule_id == "INTERPOL/restriction-notice"
        assert notice.event.payload == RestrictionNotice(
            action=action,
            reason=NoticeReason.ERASED if action is NoticeAction.ERASE else NoticeReason.SCOPE,
        )
        assert notice.event.envelope.handling == NOTICE_HANDLING
        assert notice.event.envelope.source_record_id == event.envelope.source_record_id
        assert notice.event.envelope.version == 3
        assert by_partner["OLAF"].rule_id == "OLAF/seizure/TOBACCO"  # still entitled: in full
        assert by_partner["OLAF"].event.payload == moved
        assert {r.partner_id: r.reason for r in decision.refusals}["GONE"].startswith(
            "earlier recipient no longer in the policy"
        )


def test_no_partner_without_a_basis_ever_sees_a_personal_field():
    """Over generated traffic: every delivery to a partner without a basis has no persons."""
    for record in TrafficGenerator(seed=5).take(3000):
        if record.event is None:
            continue
        for delivery in route_decision(record.event, POLICY).deliveries:
            persons = getattr(delivery.event.payload, "persons", ())
            if not delivery.partner.personal_data:
                assert persons == (), delivery.partner.id
            assert {p.category for p in persons} <= delivery.partner.subject_categories


def test_stripping_leaves_the_original_untouched():
    event = realistic_seizure()
    stripped, removed = strip_personal(event, frozenset())
    assert removed == ("payload.persons",)
    assert event.payload.persons  # type: ignore[union-attr]
    assert stripped.envelope.handling == event.envelope.handling


def test_tlp_and_source_rules_refuse_with_their_reason():
    event = _with_handling(_amber(realistic_seizure()), tlp=TlpLevel.AMBER_STRICT)
    reasons = {r.partner_id: r.reason for r in route_decision(event, POLICY).refusals}
    assert reasons["WCO-CEN"] == "may not receive TLP:AMBER_STRICT"
    cen_record = dataclasses.replace(
        event, envelope=dataclasses.replace(event.envelope, source_system=SourceSystem.CEN)
    )
    reasons = {r.partner_id: r.reason for r in route_decision(cen_record, POLICY).refusals}
    assert reasons["EUROPOL"] == "does not receive from CEN"


def test_h3_restrictions_travel_with_every_delivery():
    event = _with_handling(
        _amber(realistic_seizure()),
        handling_code=SienaHandlingCode.H3,
        restrictions="not for use in court without consent",
    )
    deliveries = route_decision(event, POLICY).deliveries
    assert deliveries
    for delivery in deliveries:
        handling = delivery.event.envelope.handling
        assert handling.handling_code is SienaHandlingCode.H3
        assert handling.restrictions == "not for use in court without consent"
