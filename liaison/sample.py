"""Sample enforcement events for the local stack, until the Avro generator replaces them.

Invented, non-nominal customs seizures with a realistic spread of commodities,
ports and routes. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from liaison.kafka.topics import INGEST_CEN, INGEST_CISPLUS, TopicSpec

__all__ = ["SampleEvent", "sample_events"]

_COMMODITIES = (
    ("cocaine", "2939", "kg"),
    ("herbal cannabis", "1211", "kg"),
    ("cigarettes", "2402", "pcs"),
    ("ivory", "0507", "kg"),
    ("pangolin scales", "0507", "kg"),
    ("counterfeit face masks", "6307", "pcs"),
    ("pregabalin", "3004", "pcs"),
    ("archaeological coins", "9705", "pcs"),
    ("firearms", "9302", "pcs"),
)
_PORTS = ("NLRTM", "BEANR", "DEHAM", "ESALG", "ESVLC", "FRLEH", "GRPIR", "ITGIT")
_ORIGINS = ("EC", "CO", "BR", "NG", "CN", "AE", "TR", "SG")
_DETECTION = ("risk profiling", "X-ray scanner", "detector dog", "intelligence", "random check")


@dataclass(frozen=True)
class SampleEvent:
    topic: TopicSpec
    key: bytes
    value: bytes


def sample_events(seed: int = 7) -> Iterator[SampleEvent]:
    """An endless stream of sample seizures, alternating CEN and CIS+ as their source."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    number = 0
    while True:
        number += 1
        commodity, hs_heading, unit = rng.choice(_COMMODITIES)
        source = INGEST_CEN if number % 3 else INGEST_CISPLUS
        record_id = f"{'CEN' if source is INGEST_CEN else 'CISP'}-{seed}-{number:08d}"
        body = {
            "source_system": "CEN" if source is INGEST_CEN else "CIS+",
            "source_record_id": record_id,
            "version": 1,
            "commodity": commodity,
            "hs_heading": hs_heading,
            "quantity": round(rng.uniform(0.5, 900.0), 1),
            "unit": unit,
            "place": rng.choice(_PORTS),
            "origin_country": rng.choice(_ORIGINS),
            "detection": rng.choice(_DETECTION),
        }
        yield SampleEvent(
            source, record_id.encode(), json.dumps(body, separators=(",", ":")).encode()
        )
