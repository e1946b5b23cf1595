"""Every workflow in the catalog has a recorded history, and every recorded history replays
against the current workflow code (non-determinism fails here, not in production)."""

from __future__ import annotations

import pytest

from tests.replay import HISTORIES, replay_file
from workflows.catalog import CATALOG


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_workflow_has_a_recorded_history(name: str) -> None:
    assert any(HISTORIES.glob(f"{name}*.json")), (
        f"no recorded history for workflow {name}: its tests must call record_history()"
    )


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    result = await replay_file(path)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
