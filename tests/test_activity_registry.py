"""Every activity a workflow calls is registered by a worker on the queue it is called on.

A workflow names its activities by string (workflows never import activities), so a typo or a
renamed ``@activity.defn(name=...)`` would only show when a run schedules it and waits for
ever. This test reads the calls out of the workflow modules' source and compares them with what
``workers/runner.py`` registers, per queue.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, cast, get_args

from pydantic import SecretStr
from temporalio import activity

from runtime.settings import Settings
from tests import replay
from wire.intake import Handoff
from workers.runner import QUEUES, activities_for
from workflows.catalog import Queue
from workflows.intake_handoffs import HANDOFFS

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
# Helpers that forward their first argument, as the activity name, to workflow.execute_activity;
# each says which queue it runs the activity on.
SDK_CALLS = {"execute_activity", "start_activity"}
FILES_HELPERS = {"_files", "_file_activity"}  # the feed's or partner's file-moving pool
GENERAL_HELPERS = {"_activity", "_provider_activity"}  # the workflow's own queue
# Functions that pass a name they were given on; the names themselves are collected at their
# callers (or, for the intake hand-off, from the HANDOFFS table).
FORWARDERS = FILES_HELPERS | GENERAL_HELPERS | {"_hand_off"}


def _queue_of(call: ast.Call, callee: str) -> Queue:
    if callee in FILES_HELPERS or any(k.arg == "task_queue" for k in call.keywords):
        return "sftp"  # every workflow runs on "general"; another queue is the files pool
    return "general"


def _calls_in(path: Path) -> tuple[set[tuple[Queue, str]], list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    called: set[tuple[Queue, str]] = set()
    unseen: list[str] = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for call in ast.walk(func):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                continue
            callee = call.func.attr
            if callee not in SDK_CALLS | FILES_HELPERS | GENERAL_HELPERS or not call.args:
                continue
            name = call.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                called.add((_queue_of(call, callee), name.value))
            elif func.name not in FORWARDERS:
                unseen.append(f"{path.name}:{call.lineno} {ast.unparse(name)}")
    return called, unseen


def _workflow_calls() -> set[tuple[Queue, str]]:
    called: set[tuple[Queue, str]] = set()
    unseen: list[str] = []
    for path in sorted(WORKFLOWS.glob("*.py")):
        found, dark = _calls_in(path)
        called |= found
        unseen += dark
    # A name this test cannot read is a name it cannot check: keep names literal.
    assert unseen == [], f"activity names computed at run time: {unseen}"
    for route in HANDOFFS.values():
        called.add(("sftp" if route.queue == "files" else "general", route.activity))
    return called


async def _registered() -> set[tuple[Queue, str]]:
    # Building the activity objects opens nothing: no pool, no client is needed to read names.
    settings = Settings(codec_keys=SecretStr(replay.test_key_ring().to_json()))
    return {
        (queue, str(activity._Definition.must_from_callable(fn).name))
        for queue in QUEUES
        for fn in activities_for(queue, settings, cast(Any, None), None)
    }


async def test_every_called_activity_is_registered_on_its_queue() -> None:
    called = _workflow_calls()
    registered = await _registered()
    missing = sorted(f"{name} (queue {queue})" for queue, name in called - registered)
    assert missing == [], f"workflows call activities no worker registers: {missing}"


async def test_the_scan_sees_the_calls_it_should() -> None:
    # The scan itself: a sample of calls made each way must be among what it found.
    called = _workflow_calls()
    assert {
        ("general", "payouts.reconcile"),  # workflow.execute_activity with a literal
        ("sftp", "sftp.deliver"),  # execute_activity with task_queue=
        ("sftp", "onboarding.ssh_key"),  # PartnerOnboarding._files
        ("general", "onboarding.install_contract"),  # PartnerOnboarding._activity
        ("sftp", "intake.fetch"),  # FileIntake._file_activity
        ("general", "payroll.open_run"),  # PayrollRun._provider_activity
        ("sftp", "edi.accept"),  # the intake hand-off table
        ("general", "ach.ingest"),
    } <= called


async def test_a_misspelt_activity_would_fail(tmp_path: Path) -> None:
    source = tmp_path / "wf.py"
    source.write_text(
        "async def run(self):\n"
        "    await workflow.execute_activity('payouts.reconcile_typo', 1)\n"
        "    await workflow.execute_activity(self.name, 1)\n"
    )
    called, unseen = _calls_in(source)
    assert called == {("general", "payouts.reconcile_typo")}
    assert called - await _registered() == called
    assert unseen == ["wf.py:3 self.name"]


def test_every_handoff_has_a_route() -> None:
    assert set(HANDOFFS) == set(get_args(Handoff))
