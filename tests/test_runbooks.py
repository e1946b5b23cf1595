"""The runbooks stay copy-paste correct: every update and signal of every workflow has a JSON
example in its runbook that validates against the handler's own model; every `temporal workflow
update execute|signal --input` example validates too; every runbook sets the codec environment
before its first `temporal` command; and the quarantine listing the file-intake runbook names
answers from the database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel
from temporalio.workflow import _Definition

from runtime.settings import Settings
from tests.plugins.services import settings_env
from workflows.catalog import CATALOG

RUNBOOKS = Path(__file__).resolve().parent.parent / "docs" / "runbooks"
EXAMPLE = re.compile(r"^```json ([A-Za-z]+)\.([a-z_]+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
COMMAND = re.compile(
    r"temporal workflow (?:update execute|signal)\b(?P<args>.*?--input '(?P<input>[^']*)')"
)
CODEC_EXPORT = (
    "export TEMPORAL_CODEC_ENDPOINT=http://localhost:8081 "
    'TEMPORAL_CODEC_AUTH="Bearer $INTEGRATIONS_CODEC_SERVER_TOKEN"'
)


def handlers() -> dict[tuple[str, str], type[BaseModel]]:
    """(workflow type, signal or update name) -> the model its handler takes, from the code."""
    found: dict[tuple[str, str], type[BaseModel]] = {}
    for spec in CATALOG.values():
        definition = _Definition.must_from_class(spec.workflow)
        functions: list[tuple[str | None, Any]] = [(n, h.fn) for n, h in definition.signals.items()]
        functions += [(n, h.fn) for n, h in definition.updates.items()]
        for name, fn in functions:
            assert name is not None
            hints = typing.get_type_hints(fn)
            (model,) = [t for key, t in hints.items() if key != "return"]
            found[(spec.name, name)] = model
    return found


def runbook_of() -> dict[str, Path]:
    """The runbook of each workflow, from the table in docs/runbooks/README.md."""
    table = re.findall(
        r"^\| `(\w+)` \| \[[^]]+\]\(([^)]+)\)", (RUNBOOKS / "README.md").read_text(), re.M
    )
    return {workflow: RUNBOOKS / file for workflow, file in table}


def validate(model: type[BaseModel], text: str, where: str) -> None:
    data = json.loads(text)
    model.model_validate(data)
    # Contracts ignore unknown fields on the wire; an example must not rely on that (a typo
    # in an optional field would be dropped silently).
    unknown = set(data) - set(model.model_fields)
    assert not unknown, f"{where}: {sorted(unknown)} are not fields of {model.__name__}"


def test_every_update_and_signal_has_a_valid_example_in_its_runbook() -> None:
    models = handlers()
    books = runbook_of()
    assert set(books) == {spec.name for spec in CATALOG.values()} - {"Demo"}
    seen: set[tuple[str, str]] = set()
    for workflow, path in books.items():
        for found in EXAMPLE.finditer(path.read_text()):
            key = (found[1], found[2])
            assert key in models, f"{path.name}: {key} is no signal or update of the code"
            assert found[1] == workflow, f"{path.name}: example for another workflow {key}"
            validate(models[key], found[3], f"{path.name} {key}")
            seen.add(key)
    missing = {key for key in models if key[0] in books} - seen
    assert not missing, f"no runbook example for {sorted(missing)}"


def test_temporal_cli_inputs_validate_against_the_handler() -> None:
    models = handlers()
    prefixes = sorted(((s.id_prefix, s.name) for s in CATALOG.values()), key=lambda p: -len(p[0]))
    checked = 0
    for path in sorted(RUNBOOKS.glob("*.md")):
        blocks = re.findall(r"^```bash\n(.*?)^```", path.read_text(), re.M | re.S)
        text = "\n".join(blocks).replace("\\\n", " ")
        for found in COMMAND.finditer(text):
            args = found["args"]
            workflow_id = re.search(r"--workflow-id (\S+)", args)
            name = re.search(r"--name (\S+)", args)
            assert workflow_id and name, f"{path.name}: {found[0]}"
            if "<" in workflow_id[1]:  # TEMPLATE's placeholders
                continue
            workflow = next(w for p, w in prefixes if workflow_id[1].startswith(f"{p}-"))
            validate(models[(workflow, name[1])], found["input"], f"{path.name} {found[0]}")
            checked += 1
    assert checked >= 8


def test_every_runbook_sets_the_codec_environment_before_temporal_commands() -> None:
    for path in sorted(RUNBOOKS.glob("*.md")):
        text = path.read_text()
        first = text.find("temporal workflow")
        assert text.count(CODEC_EXPORT) == 1, path.name
        assert first == -1 or text.index(CODEC_EXPORT) < first, path.name
        for line in text.splitlines():
            assert "--codec-endpoint" not in line, f"{path.name}: use the environment: {line}"


async def test_feeds_quarantined_lists_a_feeds_quarantined_files(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    partner, feed = f"rb{uuid.uuid4().hex[:8]}", "customers"
    await pool.execute(
        "INSERT INTO partners (partner_id, display_name) VALUES ($1, 'Runbook test')", partner
    )
    await pool.execute(
        "INSERT INTO feeds (partner_id, feed, config) VALUES ($1, $2, '{}'::jsonb)", partner, feed
    )
    events = [
        ("A_20261101_000001.csv", "landed", "", 10, 0),
        ("A_20261101_000002.csv", "quarantined", "3 of 10 rows invalid", 10, 3),
        ("A_20261102_000003.csv", "quarantined", "header does not match the contract", 0, 0),
    ]
    for number, (name, outcome, reason, total, invalid) in enumerate(events):
        await pool.execute(
            """INSERT INTO intake_events (partner_id, feed, remote_name, sha256, size_bytes,
                   outcome, reason, rows_total, rows_invalid, received_at, decided_at, workflow_id)
               VALUES ($1, $2, $3, $4, 100, $5, $6, $7, $8, now(),
                       now() - make_interval(mins => $9), 'intake-x')""",
            partner,
            feed,
            name,
            f"{number:x}" * 64,
            outcome,
            reason,
            total,
            invalid,
            10 - number,
        )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli.main", "feeds", "quarantined", *args],
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = cli(f"{partner}/{feed}")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["decided", "at", "(UTC)"]
    # Newest first, landed files left out, each with its rows, digest, name and reason.
    assert "A_20261102_000003.csv" in lines[1] and "header does not match" in lines[1]
    assert "A_20261101_000002.csv" in lines[2] and "3/10" in lines[2] and "1" * 12 in lines[2]
    assert lines[3].startswith("2 quarantined file(s) in 30 days")
    as_json = json.loads(cli(f"{partner}/{feed}", "--json").stdout)
    assert [r["remote_name"] for r in as_json] == ["A_20261102_000003.csv", "A_20261101_000002.csv"]
    assert cli("nofeed").returncode == 2


@pytest.mark.parametrize("path", sorted(RUNBOOKS.glob("*.md")), ids=lambda p: p.name)
def test_runbook_json_blocks_parse(path: Path) -> None:
    """Plain ```json blocks (not tied to a handler) must at least be JSON."""
    for block in re.findall(r"^```json\n(.*?)^```", path.read_text(), re.M | re.S):
        json.loads(block)
