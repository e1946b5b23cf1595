"""Export contracts' JSON Schemas and refuse backward-incompatible changes.

A change is *breaking* when a field is removed, a field's type changes, or a new field is
required. A breaking change needs a new major version (a new ``<name>.v<major>.json`` file is
exported beside the old one); a compatible change needs a minor bump. ``check`` compares the
code with the exported files and says, per contract, what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import wire.registered  # noqa: F401  (registers every contract)
from foundation.wire_model import Contract, all_contracts

SCHEMA_DIR = Path(__file__).resolve().parent / "json_schemas"
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


def schema_file(cls: type[Contract], directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{cls.contract_name}.v{cls.major_version()}.json"


def document(cls: type[Contract]) -> dict[str, Any]:
    return {
        "contract": cls.contract_name,
        "version": cls.contract_version,
        "schema": cls.model_json_schema(mode="validation"),
    }


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in all_contracts().values():
        path = schema_file(cls, directory)
        path.write_text(json.dumps(document(cls), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


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


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = _resolve(schema, schema.get("$defs", {}))
    return resolved


def check(directory: Path = SCHEMA_DIR) -> list[str]:
    """Problems between the code's contracts and the exported schemas (empty when fine)."""
    problems: list[str] = []
    for key, cls in sorted(all_contracts().items()):
        path = schema_file(cls, directory)
        if not path.exists():
            problems.append(
                f"{key}: no exported schema {path.name}; run `integrations contracts export`"
            )
            continue
        stored = json.loads(path.read_text())
        old, new = _shape(stored["schema"]), _shape(cls.model_json_schema(mode="validation"))
        if old == new:
            if stored["version"] != cls.contract_version:
                problems.append(
                    f"{key}: version {cls.contract_version} but exported {stored['version']}; "
                    "run `integrations contracts export`"
                )
            continue
        breaking = breaking_changes(old, new)
        if breaking:
            problems.append(
                f"{key}: breaking change without a new major version: {'; '.join(breaking)}"
            )
        elif stored["version"] == cls.contract_version:
            problems.append(f"{key}: schema changed compatibly: bump the minor version and export")
        else:
            problems.append(f"{key}: schema changed; run `integrations contracts export`")
    return problems
