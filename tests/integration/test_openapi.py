"""Schemathesis against the live HTTP sources: every request the OpenAPI document allows
(and a share of those it does not) gets one of the documented answers, in the documented
shape, and never a server error. Bounded: a fixed seed and a few dozen cases per operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from connectors.openapi import DOCUMENT
from tests.integration.test_http_source import CUSTOMS_TOKEN, POLICE_TOKEN, _serve

pytestmark = pytest.mark.integration

CASES = 40
SCHEMA = schemathesis.openapi.from_path(str(DOCUMENT))
# A bulk import is text, one JSON body per line: sent as the text it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


def _operation(path: str):
    (method,) = SCHEMA.raw_schema["paths"][path]
    return SCHEMA[path][method.upper()]


@pytest.fixture
def sources(declared_topics, tmp_path):
    cisplus = _serve(declared_topics, tmp_path, "cisplus")
    police = _serve(declared_topics, tmp_path, "police")
    _, cisplus_url = next(cisplus)
    _, police_url = next(police)
    try:
        yield {"cisplus": cisplus_url, "police": police_url}
    finally:
        for server in (cisplus, police):
            with pytest.raises(StopIteration):
                next(server)


POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE


@pytest.mark.parametrize(
    ("path", "source", "token", "mode"),
    [
        ("/v1/records", "cisplus", CUSTOMS_TOKEN, POSITIVE),
        ("/v1/records", "cisplus", CUSTOMS_TOKEN, NEGATIVE),
        ("/v1/alerts", "police", POLICE_TOKEN, POSITIVE),
        ("/v1/alerts", "police", POLICE_TOKEN, NEGATIVE),
        # Any bytes are some text: a bulk file has no schema-invalid form (its lines are
        # refused one by one, in the answer), and the health check takes no input.
        ("/v1/alerts/bulk", "police", POLICE_TOKEN, POSITIVE),
        ("/healthz", "cisplus", None, POSITIVE),
    ],
)
def test_every_answer_is_a_documented_one(sources, path, source, token, mode):
    operation = _operation(path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answered: dict[int, int] = {}

    @seed(15)
    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def call(case) -> None:
        response = case.call(base_url=sources[source], headers=headers, timeout=30)
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        assert response.status_code < 500 or response.status_code == 503, response.text
        # Every check but one: a body the schema allows may still be refused (400), for the
        # rules no schema states (a country's code list, handling that must name recipients).
        case.validate_response(
            response, headers=headers, excluded_checks=[positive_data_acceptance]
        )

    call()
    assert sum(answered.values()) > 0
    if path != "/healthz" and mode is GenerationMode.POSITIVE:
        # The schema's bodies reach the code that reads them: answered 202 or 400 (a value
        # the schema cannot rule out, such as an unknown country), not turned away before.
        assert set(answered) <= {202, 200, 400, 403}, answered
