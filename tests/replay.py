"""Replay helpers: every workflow must replay its own recorded history.

Tests that run a workflow call :func:`record_history` on the finished handle. The history is
kept in ``tests/histories/<name>.json`` (written when missing, or always with
``RECORD_HISTORIES=1``), and ``tests/test_replay.py`` replays every one of them against the
current code, so a non-deterministic change to a workflow fails the suite. Histories are
encrypted with the committed test-only key ring in ``tests/fixtures/test-keyring.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.worker import Replayer, WorkflowReplayResult

from adapters.payload_codec import KeyRing
from adapters.temporal_client import data_converter
from workflows.catalog import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
TEST_KEY_RING = Path(__file__).parent / "fixtures" / "test-keyring.json"


def test_key_ring() -> KeyRing:
    return KeyRing.from_json(TEST_KEY_RING.read_text())


async def record_history(handle: WorkflowHandle[object, object], name: str) -> Path:
    """Fetch the handle's history and keep it as ``histories/<name>.json``."""
    path = HISTORIES / f"{name}.json"
    history = await handle.fetch_history()
    if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
        path.write_text(history.to_json())
    return path


async def replay_file(path: Path) -> WorkflowReplayResult:
    from temporalio.client import WorkflowHistory

    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=data_converter(test_key_ring()))
    return await replayer.replay_workflow(history, raise_on_replay_failure=False)
