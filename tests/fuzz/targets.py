"""What each decoder and parser may do with any input: return, or raise its typed error.

A target is a strategy of inputs and a function that feeds one input to the code under
test. The function lets the code's documented errors pass (they are how bad input is
refused: a dead letter, a 400, a configuration error) and lets anything else escape, which
the runner reports as a finding: a crash, a hang past the deadline, or an untyped error.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from connectors.cen.format import SEIZURE_COLUMNS, read_export, seizure_row, write_export
from connectors.cen.xmlexport import read_xml_export, write_xml_export
from connectors.cisplus import format as cisplus
from connectors.jsonbody import parse_body
from connectors.police import format as police
from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.errors import ConfigurationError, MappingError, SerdeError
from liaison.model import to_avro
from liaison.policy import DEFAULT_POLICY, parse_policy
from liaison.settings import Settings, load_settings
from liaison.validation import validate
from stack.synthetic.generator import TrafficGenerator

__all__ = ["CORPUS", "TARGETS", "Target"]

CORPUS = Path(__file__).parent / "corpus"
INGEST = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    name: str
    inputs: st.SearchStrategy[Any]
    run: Callable[[Any], None]
    # How a corpus file becomes an input (corpus files are bytes).
    from_bytes: Callable[[bytes], Any]


# -- inputs: samples of the real thing, then mutated -------------------------------------


@cache
def _events() -> list[Any]:
    return [r.event for r in TrafficGenerator(seed=99).take(400) if r.event is not None]


def _mutations(seeds: list[bytes], max_size: int = 4096) -> st.SearchStrategy[bytes]:
    """Real inputs broken in the ways files break: bytes replaced, cut, repeated, spliced."""
    edits = st.lists(
        st.tuples(
            st.sampled_from(["replace", "delete", "insert", "repeat", "truncate"]),
            st.integers(0, max_size),
            st.integers(0, 64),
            st.binary(min_size=1, max_size=16),
        ),
        max_size=6,
    )

    def apply(seed: bytes, steps: list[tuple[str, int, int, bytes]]) -> bytes:
        data = bytearray(seed)
        for kind, where, length, chunk in steps:
            at = where % (len(data) + 1)
            if kind == "replace":
                data[at : at + len(chunk)] = chunk
            elif kind == "delete":
                del data[at : at + length]
            elif kind == "insert":
                data[at:at] = chunk
            elif kind == "repeat":
                data[at:at] = data[at : at + length] * 3
            else:
                del data[at:]
        return bytes(data[: max_size * 4])

    return st.builds(apply, st.sampled_from(seeds), edits)


def _inputs(seeds: list[bytes], max_size: int = 4096) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=max_size), _mutations(seeds, max_size))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# -- the targets ---------------------------------------------------------------------------


@cache
def _codec() -> AvroCodec:
    return AvroCodec(EVENT)


def _avro_seeds() -> list[bytes]:
    return [_codec().encode(to_avro(e)) for e in _events()[:40]]


def _avro(data: bytes) -> None:
    with suppress(SerdeError):
        _codec().decode(data)


def _csv_seeds() -> list[bytes]:
    events = [e for e in _events() if e.envelope.source_system.value in ("CEN", "NCEN")][:30]
    seizures, _persons = write_export(events[:3])
    out = io.StringIO()
    writer = csv.DictWriter(out, SEIZURE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow({**seizure_row(events[0]), "place_description": 'quay "4",\nshed'})
    return [seizures.encode(), out.getvalue().encode()]


def _cen_csv(data: bytes) -> None:
    # Errors are results, never raised: a row that does not map is one rejection.
    seizures, _, persons = data.partition(b"\x00")
    list(read_export(_text(seizures), _text(persons) or None, ingest_time=INGEST))


def _xml_seeds() -> list[bytes]:
    events = [e for e in _events() if e.envelope.source_system.value in ("CEN", "NCEN")]
    return [
        write_xml_export(events[:2]).encode(),
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    ]


def _cen_xml(data: bytes) -> None:
    list(read_xml_export(_text(data), ingest_time=INGEST))


def _body_seeds() -> list[bytes]:
    bodies = []
    for event in _events()[:60]:
        source = event.envelope.source_system.value
        if source == "CIS_PLUS":
            bodies.append(json.dumps(cisplus.body_of(event)).encode())
        elif source == "POLICE":
            bodies.append(json.dumps(police.body_of(event)).encode())
    return [*bodies, b"[" * 5000, b'{"a":' * 40 + b"1" + b"}" * 40]


def _json_body(data: bytes) -> None:
    for fmt in (cisplus, police):
        try:
            event = fmt.event_of(parse_body(data), ingest_time=INGEST)
        except MappingError:
            continue
        validate(event)


def _bulk(data: bytes) -> None:
    # The watchlist bulk import: one police body per line, each refused on its own.
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        with suppress(MappingError):
            validate(police.event_of(parse_body(line), ingest_time=INGEST))


def _bulk_seeds() -> list[bytes]:
    lines = [s for s in _body_seeds() if b'"alert"' in s][:5]
    return [b"\n".join(lines), b"\n".join(lines[:2]) + b"\n{not json\n"]


def _policy_seeds() -> list[bytes]:
    return [DEFAULT_POLICY.read_bytes()[:4000], b"[[partners]]\nid = 1\n", b"partners = [1]\n"]


def _policy(data: bytes) -> None:
    with suppress(ConfigurationError):
        parse_policy(data, "fuzzed")


_FIELDS = sorted(Settings.model_fields)


def _environ(data: bytes) -> dict[str, str]:
    """An environment from bytes: ``NAME=value`` lines, names taken as LIAISON_ fields."""
    environ = {}
    for line in _text(data).split("\n"):
        name, _, value = line.partition("=")
        environ["LIAISON_" + name.strip().upper()] = value.replace("\x00", "")
    return environ


_settings_inputs = st.builds(
    lambda pairs: "\n".join(f"{k}={v}" for k, v in pairs).encode(),
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(_FIELDS), st.text(max_size=12)),
            st.one_of(
                st.text(max_size=80),
                st.sampled_from(["0", "-1", "1e309", "nan", "a:b=c", "x=y|z", ",,,", "true"]),
            ),
        ),
        max_size=6,
    ),
)


def _settings(data: bytes) -> None:
    with suppress(ConfigurationError):
        load_settings(_environ(data))


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("avro", st.deferred(lambda: _inputs(_avro_seeds())), _avro, bytes),
        Target("cen-csv", st.deferred(lambda: _inputs(_csv_seeds())), _cen_csv, bytes),
        Target("cen-xml", st.deferred(lambda: _inputs(_xml_seeds())), _cen_xml, bytes),
        Target("json-body", st.deferred(lambda: _inputs(_body_seeds())), _json_body, bytes),
        Target("bulk-lines", st.deferred(lambda: _inputs(_bulk_seeds(), 8192)), _bulk, bytes),
        Target("policy", st.deferred(lambda: _inputs(_policy_seeds(), 8192)), _policy, bytes),
        Target("settings", _settings_inputs, _settings, bytes),
    )
}
