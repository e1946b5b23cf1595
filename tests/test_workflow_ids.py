"""The id scheme has one home: wire/workflow_ids.py, read through workflows/catalog.py."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from wire import workflow_ids
from wire.intake import FeedConfig
from workflows.catalog import CATALOG, schedule_id, workflow_id

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("activities", "contracts", "integrations", "workers", "workflows", "benchmarks")


def test_ids_are_business_keys_behind_the_catalog_prefixes() -> None:
    # The literal scheme, as operators, the README and recorded histories know it.
    assert workflow_id("Payout", "po_1") == "payout-po_1"
    assert workflow_id("AchReturn", "091000019000001") == "ach-return-091000019000001"
    assert workflow_id("PayrollRun", "acme-2026-01-01") == "payroll-acme-2026-01-01"
    assert workflow_id("EdiAckWait", "acme-000000042") == "edi-ack-acme-000000042"
    assert workflow_id("PartnerOnboarding", "acme") == "partner-acme"
    assert workflow_id("Demo", "k") == "demo-k"
    assert schedule_id("acme", "customers") == "intake-acme-customers"
    for name, spec in CATALOG.items():
        assert spec.workflow_id("k") == workflow_id(spec.name, "k") == f"{spec.id_prefix}-k"
        assert workflow_ids.key_of(spec.name, spec.workflow_id("a-b")) == "a-b", name
    assert set(CATALOG) == set(workflow_ids.ID_PREFIXES)


def test_key_of_refuses_an_id_of_another_workflow() -> None:
    assert workflow_ids.key_of("PayrollRun", "payout-po_1") is None
    assert workflow_ids.key_of("PayrollRun", "payroll-acme-2026-01-01") == "acme-2026-01-01"


def test_a_feed_schedule_id_comes_from_the_scheme() -> None:
    # Only the two key fields matter here; the rest of a feed is validated elsewhere.
    keys: dict[str, Any] = {"partner_id": "acme", "feed": "customers"}
    feed = FeedConfig.model_construct(**keys)
    assert feed.schedule_id == schedule_id("acme", "customers")


def _hand_spelled(path: Path, prefixes: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.JoinedStr) or len(node.values) < 2:
            continue
        head, then = node.values[0], node.values[1]
        if (
            isinstance(head, ast.Constant)
            and head.value in prefixes
            and isinstance(then, ast.FormattedValue)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_id_is_spelled_by_hand_outside_the_scheme() -> None:
    prefixes = {f"{p}-" for p in workflow_ids.ID_PREFIXES.values()}
    home = ROOT / "contracts" / "workflow_ids.py"
    found = [
        hit
        for folder in SOURCES
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != home
        for hit in _hand_spelled(path, prefixes)
    ]
    assert found == [], "build ids with wire.workflow_ids:\n" + "\n".join(found)
