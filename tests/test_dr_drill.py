"""scripts/dr-drill in quick mode: the backup restores into a working stack (data present,
a consistent snapshot), and what was written after the backup is really gone. Timing figures
are printed by the script, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_drill_restores_postgres_and_temporal_from_the_backups() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dr-drill"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Data present after the restore, in both stores.
    assert report["rows_restored"] > 0
    assert report["workflows_restored"] > 0
    # A consistent snapshot: every row up to the recovery point, none missing in between.
    assert report["restored_rows_are_a_prefix"] is True
    assert report["rows_restored"] + report["rows_lost"] == report["rows_written"]
    # The stack was really lost: writes after the backup did not survive.
    assert report["rows_lost"] > 0
    assert report["workflows_lost"] + report["workflows_restored"] == report["workflows_started"]
    assert report["recovery_time_seconds"] > 0
