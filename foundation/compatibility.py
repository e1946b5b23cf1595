"""When a new version of a versioned model breaks its readers or writers.

A change is *breaking* when a field is removed, a field's type changes, or a new field is
required; an added optional field or an enum that gains values is compatible. Used for the wire
models' exported JSON Schemas and for partner file contracts alike.
"""

from __future__ import annotations

from typing import Any

_DOC_KEYS = {"title", "description", "default", "examples"}
# Constraints are not part of the wire type: changing them is a validation change, not a
# change of shape (tightening one still deserves a major bump; reviewers see it in the diff).
_CONSTRAINT_KEYS = {
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "pattern",
    "minItems",
    "maxItems",
}


def _resolve(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """Inline ``$ref``s and drop documentation, so two schemas compare by shape only."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                return {"$recursive": name}
            return _resolve(defs.get(name, {}), defs, seen | {name})
        return {
            k: _resolve(v, defs, seen)
            for k, v in node.items()
            if k not in _DOC_KEYS and k not in _CONSTRAINT_KEYS and k != "$defs"
        }
    if isinstance(node, list):
        return [_resolve(v, defs, seen) for v in node]
    return node


def _as_enum(node: dict[str, Any]) -> dict[str, Any]:
    """A one-value Literal exports as ``const``: the same thing as a one-value ``enum``."""
    if "const" not in node:
        return node
    return {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}


def _widens(old: Any, new: Any) -> bool:
    """Is ``new`` the same shape as ``old`` but for enums that gained values? An added value,
    like an added optional field, is a minor change: everything valid before still is."""
    if isinstance(old, dict) and isinstance(new, dict):
        old, new = _as_enum(old), _as_enum(new)
        if old.keys() != new.keys():
            return False
        for key, value in old.items():
            if key == "enum" and isinstance(value, list) and isinstance(new[key], list):
                if not all(v in new[key] for v in value):
                    return False
            elif not _widens(value, new[key]):
                return False
        return True
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_widens(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def _object_items(node: dict[str, Any]) -> bool:
    items = node.get("items")
    return node.get("type") == "array" and isinstance(items, dict) and "properties" in items


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What in ``new`` breaks a reader or writer of ``old`` (both resolved schemas)."""
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_field in old_props.items():
        where = f"{path}{name}"
        if name not in new_props:
            problems.append(f"field {where!r} was removed")
            continue
        new_field = new_props[name]
        if "properties" in old_field and "properties" in new_field:
            problems += breaking_changes(old_field, new_field, f"{where}.")
        elif _object_items(old_field) and _object_items(new_field):
            # A list of objects: an optional field added to its items is a minor change too.
            problems += breaking_changes(old_field["items"], new_field["items"], f"{where}[].")
        elif old_field != new_field and not _widens(old_field, new_field):
            problems.append(f"field {where!r} changed type")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(added_required):
        problems.append(f"field {path}{name!r} is newly required")
    return problems


def shape(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema reduced to what readers and writers depend on: refs inlined, docs and
    constraints dropped."""
    resolved: dict[str, Any] = _resolve(schema, schema.get("$defs", {}))
    return resolved
