"""The soak and chaos script in its shortest mode (about 70 s): under load, a worker, an sshd,
PostgreSQL and the Temporal dev server are each killed and restarted, and afterwards every
invariant holds (each file archived or quarantined once, each webhook event stored and
forwarded once, workflows completed or waiting where they should, one payroll NACHA upload,
no PII in the logs). Figures are printed by the script, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_shortest_soak_keeps_every_invariant_through_every_kind_of_fault() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--quick", "--minutes", "0.5", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {f["kind"] for f in report["faults"]} == {"worker", "sshd", "postgres", "temporal"}
    sent = report["sent"]
    assert sent["files"] > 0 and sent["webhook_events"] > 0 and sent["returns"] > 0
    assert len(report["checks"]) == 13
