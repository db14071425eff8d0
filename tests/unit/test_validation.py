import dataclasses

import pytest

from liaison.model.common import SienaHandlingCode, TlpLevel
from liaison.model.customs import Seizure
from liaison.model.police import AlertType, IdentifierKind, PoliceAlert, WatchedItem
from liaison.validation import (
    known_place,
    valid_container_number,
    valid_country,
    valid_currency,
    valid_hs_code,
    valid_imo_number,
    valid_unlocode,
    valid_vin,
    validate,
)
from tests.samples import realistic_seizure


# Reference examples published with each standard, checked by hand.
@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (valid_container_number, ["CSQU3054383"], ["CSQU3054384", "CSQX3054383", "CSQU305438"]),
        (valid_imo_number, ["9074729", "9321483"], ["9074728", "907472", "IMO9074729"]),
        (
            valid_vin,
            ["1M8GDM9AXKP042788", "WVWZZZ1JZXW000001"],
            ["1M8GDM9A1KP042788", "WVWZZZ1JZXW00000I", "SHORTVIN"],
        ),
        (
            valid_hs_code,
            ["293999", "24022090", "9705100000"],
            ["2939", "770000", "980000", "29399"],
        ),
        (valid_country, ["NL", "EC", "XK"], ["XX", "nl", "NLD"]),
        (valid_currency, ["EUR", "USD", "XOF"], ["EURO", "XYZ", "eur"]),
        (valid_unlocode, ["NLRTM", "BEANR", "USNY2"], ["NLRT1", "XXRTM", "NLRTMX"]),
    ],
)
def test_code_checks(check, good, bad):
    assert all(check(code) for code in good), [c for c in good if not check(c)]
    assert not any(check(code) for code in bad), [c for c in bad if check(c)]


def test_bundled_places_have_names_and_functions():
    assert known_place("NLRTM") == ("Rotterdam", ("port", "rail", "road", "airport", "border"))
    assert known_place("FRCDG") == ("Paris-Charles de Gaulle Apt", ("airport",))
    assert known_place("ZZZZZ") is None


def test_a_realistic_event_has_no_problems():
    assert validate(realistic_seizure()) == []


def test_problems_name_the_field_and_never_the_value():
    event = realistic_seizure()
    seizure = event.payload
    assert isinstance(seizure, Seizure)
    bad = dataclasses.replace(
        event,
        envelope=dataclasses.replace(
            event.envelope,
            reporting_country="ZZ",
            handling=dataclasses.replace(
                event.envelope.handling,
                handling_code=SienaHandlingCode.H3,
                tlp=TlpLevel.RED,
                releasable_to=(),
            ),
        ),
        payload=dataclasses.replace(
            seizure,
            hs_code="7700",
            route=dataclasses.replace(seizure.route, transit_countries=("PA", "QQ")),
            conveyance=dataclasses.replace(seizure.conveyance, container_numbers=("CSQU3054384",)),
            persons=(dataclasses.replace(seizure.persons[0], nationality="Atlantis"),),
        ),
    )
    problems = {str(p.field): p.reason for p in validate(bad)}
    assert set(problems) == {
        "envelope.reporting_country",
        "envelope.handling.restrictions",
        "envelope.handling.releasable_to",
        "payload.hs_code",
        "payload.route.transit_countries",
        "payload.conveyance.container_numbers",
        "payload.persons[0].nationality",
    }
    text = " ".join(problems.values())
    for value in ("ZZ", "7700", "QQ", "CSQU3054384", "Atlantis"):
        assert value not in text


def test_watched_identifiers_are_checked_by_their_kind():
    alert = PoliceAlert(
        alert_type=AlertType.STOLEN_VEHICLE,
        alert_reference="SMV-2026-000123",
        issuing_country="DE",
        issuing_agency="Bundeskriminalamt",
        items=(
            WatchedItem(kind=IdentifierKind.VIN, identifier="1M8GDM9A1KP042788"),
            WatchedItem(kind=IdentifierKind.VIN, identifier="1M8GDM9AXKP042788"),
            WatchedItem(kind=IdentifierKind.FIREARM_SERIAL, identifier="anything goes 123"),
        ),
    )
    assert [str(p) for p in validate(alert)] == [
        "items[0].identifier: not a valid vehicle identification number"
    ]
