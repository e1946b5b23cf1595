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
from foundation.compatibility import breaking_changes, shape
from foundation.wire_model import WireModel, all_wire_models

SCHEMA_DIR = Path(__file__).resolve().parent / "json_schemas"


def schema_file(cls: type[WireModel], directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{cls.wire_name}.v{cls.major_version()}.json"


def document(cls: type[WireModel]) -> dict[str, Any]:
    return {
        "contract": cls.wire_name,
        "version": cls.wire_version,
        "schema": cls.model_json_schema(mode="validation"),
    }


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in all_wire_models().values():
        path = schema_file(cls, directory)
        path.write_text(json.dumps(document(cls), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def check(directory: Path = SCHEMA_DIR) -> list[str]:
    """Problems between the code's contracts and the exported schemas (empty when fine)."""
    problems: list[str] = []
    for key, cls in sorted(all_wire_models().items()):
        path = schema_file(cls, directory)
        if not path.exists():
            problems.append(
                f"{key}: no exported schema {path.name}; run `integrations schemas export`"
            )
            continue
        stored = json.loads(path.read_text())
        old, new = shape(stored["schema"]), shape(cls.model_json_schema(mode="validation"))
        if old == new:
            if stored["version"] != cls.wire_version:
                problems.append(
                    f"{key}: version {cls.wire_version} but exported {stored['version']}; "
                    "run `integrations schemas export`"
                )
            continue
        breaking = breaking_changes(old, new)
        if breaking:
            problems.append(
                f"{key}: breaking change without a new major version: {'; '.join(breaking)}"
            )
        elif stored["version"] == cls.wire_version:
            problems.append(f"{key}: schema changed compatibly: bump the minor version and export")
        else:
            problems.append(f"{key}: schema changed; run `integrations schemas export`")
    return problems
