"""Moving the watch tables from one person key to the next (``liaison watch rekey``).

Persons and travel documents are watch keys only as an HMAC under ``LIAISON_PERSON_KEY``
(:class:`~pipelines.enrich.watchlist.PersonKeys`). A new key gives every person a new watch
key, so the entries made under the old one would never be found again: alerts on persons
would stop matching and their hits could no longer be erased. The tables keep each entry's
records whole (encoded events, persons included), so the new key of an old one can be
computed from them: for every record in the alert and customs tables, each person's and
document's key under the old secret maps to its key under the new one.

With the workers stopped, this reads the three watch changelogs to their end, writes every
person or document row again under its new key (in the partition that key belongs to, as
the worker writes it) and a tombstone under the old one; a value of the layout before rows
(a whole identifier's) moves whole, and the worker splits it into rows when it meets it. A
memory of hits whose records have all left the tables has no record to compute its new key
from: it stays under the old key, counted as orphaned (its hits still end at their
retention; an erasure of their records no longer finds them). Identifiers that are not
persons (containers, vessels, serials) are not keyed by the secret and are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.kafka.client import KafkaProducer, producer_config, read_to_end
from liaison.kafka.topics import STATE_WATCH_ALERTS, STATE_WATCH_HITS, STATE_WATCH_SEEN
from liaison.model import from_avro
from liaison.model.common import Event, Person
from liaison.model.police import IdentifierKind, PoliceAlert
from liaison.settings import Settings
from pipelines.enrich.memory import dump_memory, load_memory
from pipelines.enrich.watchlist import PersonKeys
from pipelines.state import dump_entries, load_entries, load_watch_row
from pipelines.sweep import partition_of
from pipelines.window import group_of, row_key

__all__ = ["Rekeyed", "key_map", "rekey"]

_KEYED = (IdentifierKind.PERSON.value, IdentifierKind.TRAVEL_DOCUMENT.value)
_TABLES = (STATE_WATCH_ALERTS, STATE_WATCH_SEEN, STATE_WATCH_HITS)


@dataclass(frozen=True)
class Rekeyed:
    moved: int  # entries written under their new key
    orphaned: int  # hit memories left under the old key (no record to map them)


def key_map(events: Iterable[Event], old: PersonKeys, new: PersonKeys) -> dict[str, str]:
    """Each person's and document's watch key under ``old`` mapped to the one under ``new``,
    for the persons and documents of ``events``."""
    mapping: dict[str, str] = {}
    for event in events:
        payload = event.payload
        people: tuple[Person, ...] = getattr(payload, "persons", ())
        for person in people:
            before, after = old(person), new(person)
            if before is not None and after is not None:
                mapping[str(before)] = str(after)
            if person.document_number:
                number = person.document_number
                mapping[str(old.document(number))] = str(new.document(number))
        if isinstance(payload, PoliceAlert):
            for item in payload.items:
                if item.kind is IdentifierKind.TRAVEL_DOCUMENT:
                    number = item.identifier
                    mapping[str(old.document(number))] = str(new.document(number))
    return mapping


def rekey(
    settings: Settings,
    old: PersonKeys,
    new: PersonKeys,
    bootstrap: str | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> Rekeyed:
    """Move the watch tables' person and document entries from ``old`` keys to ``new`` ones
    (see the module); the workers must be stopped."""
    prefix = settings.topic_prefix
    names = {spec.full_name(prefix): spec for spec in _TABLES}
    latest: dict[str, dict[bytes, bytes]] = {name: {} for name in names}
    for message in read_to_end(settings, list(names), bootstrap, complete=True):
        key, value = message.key() or b"", message.value()
        table = latest[message.topic() or ""]
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    codec = AvroCodec(EVENT)

    def decoded(key: bytes, value: bytes) -> list[Event]:
        if group_of(key)[1]:  # one record's row
            encoded = [load_watch_row(value).encoded]
        else:  # the layout before rows: every record of the identifier
            encoded = [raw for _, raw in load_entries(value).values()]
        return [from_avro(Event, codec.decode(raw)) for raw in encoded]

    records = (
        event
        for spec in (STATE_WATCH_ALERTS, STATE_WATCH_SEEN)
        for key, value in latest[spec.full_name(prefix)].items()
        if _keyed(key)
        for event in decoded(key, value)
    )
    mapping = key_map(records, old, new)
    done = set(mapping.values())  # keys that are new already (a rerun finds them so)
    moved = orphaned = 0
    with KafkaProducer(producer_config(settings, bootstrap)) as producer:
        for name, spec in names.items():
            for key, value in latest[name].items():
                group, member = group_of(key)
                if not _keyed(key) or group.decode() in done:
                    continue
                target = mapping.get(group.decode())
                if target == group.decode():
                    continue  # the same key under both secrets: nothing to move
                if target is None:
                    orphaned += spec is STATE_WATCH_HITS
                    continue
                new_group = target.encode()
                new_key = row_key(new_group, member) if member else new_group
                moving: bytes | None = value
                if new_key in latest[name]:  # written under the new key already (a rerun)
                    # The same row: the one under the new key stands (the old one still
                    # goes); a whole identifier's value: the union of the two.
                    moving = (
                        None
                        if member
                        else _merged(spec is STATE_WATCH_HITS, latest[name][new_key], value)
                    )
                partitions = spec.partitions
                # In the partition the worker writes the group to: its watch key's (murmur2,
                # as pipeline.watch is partitioned).
                if moving is not None:
                    producer.produce(
                        name, moving, key=new_key, partition=partition_of(new_group, partitions)
                    )
                producer.produce(name, None, key=key, partition=partition_of(group, partitions))
                moved += 1
        producer.flush()
    say(f"watch rekey: {moved} entries moved to the new key, {orphaned} hit memories orphaned")
    return Rekeyed(moved, orphaned)


def _keyed(key: bytes) -> bool:
    return key.decode("utf-8", "replace").partition(":")[0] in _KEYED


def _merged(memory: bool, kept: bytes, moved: bytes) -> bytes:
    """An entry found under both keys: the union of the two (the new one wins a clash)."""
    if memory:
        return dump_memory({**load_memory(moved), **load_memory(kept)})
    return dump_entries({**load_entries(moved), **load_entries(kept)})
