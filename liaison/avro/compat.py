"""Backward compatibility of Avro schemas: can a reader on the new schema read old data?

Follows the schema resolution rules of the Avro specification. Each problem
is reported with the path of the field that breaks it, so a developer sees
what to fix (usually: give the new field a default, or keep the old symbol).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["backward_problems"]

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}

Schema = Any  # a JSON value: str, list (union) or dict


@dataclass
class _Names:
    """Named types seen so far on each side: a later use of a name refers back to them."""

    writer: dict[str, dict[str, Any]] = field(default_factory=dict)
    reader: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked: set[tuple[str, str]] = field(default_factory=set)


def backward_problems(writer: Schema, reader: Schema) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can.

    Both are full schemas as ``fastavro.schema.load_schema`` returns them
    (named types defined at first use, referred to by full name afterwards).
    """
    problems: list[str] = []
    _check(writer, reader, _root_name(reader), _Names(), problems)
    return problems


def _root_name(schema: Schema) -> str:
    return _full_name(schema, "") if isinstance(schema, dict) and "name" in schema else "<root>"


def _full_name(schema: dict[str, Any], namespace: str) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    space = schema.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _resolve(schema: Schema, seen: dict[str, dict[str, Any]], namespace: str) -> Schema:
    """The definition behind a type name, registering named definitions as they appear."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
        for candidate in (schema, f"{namespace}.{schema}"):
            if candidate in seen:
                return seen[candidate]
        return schema
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        seen.setdefault(_full_name(schema, namespace), schema)
    return schema


def _kind(schema: Schema) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema["type"]
        return (
            kind
            if isinstance(kind, str)
            and kind in _PRIMITIVES | {"record", "enum", "fixed", "array", "map"}
            else _kind(kind)
        )
    return str(schema)


def _describe(schema: Schema) -> str:
    if isinstance(schema, dict) and "name" in schema:
        return f"{schema['type']} {schema['name']}"
    return _kind(schema)


def _matches(writer: Schema, reader: Schema) -> bool:
    """Whether a writer branch could resolve into this reader branch (for unions)."""
    w, r = _kind(writer), _kind(reader)
    if w in ("record", "enum", "fixed") and w == r:
        return str(writer["name"]).rsplit(".", 1)[-1] == str(reader["name"]).rsplit(".", 1)[-1]
    return w == r or r in _PROMOTIONS.get(w, set())


def _check(writer: Schema, reader: Schema, path: str, names: _Names, problems: list[str]) -> None:
    writer = _resolve(writer, names.writer, "")
    reader = _resolve(reader, names.reader, "")
    w, r = _kind(writer), _kind(reader)

    if w == "union" or r == "union":
        _check_union(writer, reader, path, names, problems)
        return
    if not _matches(writer, reader):
        problems.append(
            f"{path}: was {_describe(writer)}, now {_describe(reader)}: old data cannot be read"
        )
        return
    if w in _PRIMITIVES:
        return  # same type or a promotion
    if w == "array":
        _check(writer["items"], reader["items"], f"{path}[]", names, problems)
    elif w == "map":
        _check(writer["values"], reader["values"], f"{path}{{}}", names, problems)
    elif w == "fixed" and writer["size"] != reader["size"]:
        problems.append(f"{path}: fixed size changed from {writer['size']} to {reader['size']}")
    elif w == "enum":
        _check_enum(writer, reader, path, problems)
    elif w == "record":
        key = (_full_name(writer, ""), _full_name(reader, ""))
        if key in names.checked:
            return
        names.checked.add(key)
        _check_record(writer, reader, path, names, problems)


def _check_union(
    writer: Schema, reader: Schema, path: str, names: _Names, problems: list[str]
) -> None:
    writer_branches = writer if isinstance(writer, list) else [writer]
    reader_branches = reader if isinstance(reader, list) else [reader]
    for branch in writer_branches:
        resolved = _resolve(branch, names.writer, "")
        target = next(
            (rb for rb in reader_branches if _matches(resolved, _resolve(rb, names.reader, ""))),
            None,
        )
        if target is None:
            problems.append(
                f"{path}: old data may hold a {_describe(resolved)}, "
                "which the new schema has no branch for"
            )
        else:
            _check(resolved, target, f"{path}<{_describe(resolved)}>", names, problems)


def _check_enum(
    writer: dict[str, Any], reader: dict[str, Any], path: str, problems: list[str]
) -> None:
    missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
    if missing and "default" not in reader:
        problems.append(
            f"{path}: enum {reader['name']} dropped symbol(s) {', '.join(missing)} "
            "and has no default"
        )


def _check_record(
    writer: dict[str, Any], reader: dict[str, Any], path: str, names: _Names, problems: list[str]
) -> None:
    written = {f["name"]: f for f in writer["fields"]}
    for aliasless in written.values():
        for alias in aliasless.get("aliases", ()):
            written.setdefault(alias, aliasless)
    for reader_field in reader["fields"]:
        name = reader_field["name"]
        source = written.get(name) or next(
            (written[a] for a in reader_field.get("aliases", ()) if a in written), None
        )
        if source is None:
            if "default" not in reader_field:
                problems.append(
                    f"{path}.{name}: new field without a default: old data has no value for it"
                )
            continue
        _check(source["type"], reader_field["type"], f"{path}.{name}", names, problems)
