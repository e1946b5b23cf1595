"""``integrations edi validate`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_edi_core import CORPUS, PO, interchange, segments

CLI = [sys.executable, "-c", "from app.cli.main import main; main()", "edi", "validate"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
def test_validate_prints_json_and_writes_the_999(tmp_path: Path) -> None:
    out = tmp_path / "ack.x12"
    done = run(str(CORPUS / "pyx12_example834_5010.txt"), "--json", "--ack-out", str(out))
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["accepted"] is False and result["ack_kind"] == "999"
    assert any(i["segment_id"] == "INS" and i["code"] == "7" for i in result["issues"])
    ack = segments(out.read_text())
    assert ack[0][0] == "ISA" and ["IK5", "R", "5"] in ack


def test_validate_accepts_a_messy_850_in_text_mode(tmp_path: Path) -> None:
    source = tmp_path / "po.edi"
    source.write_bytes(b"\xef\xbb\xbf  " + interchange(PO).replace("~", "~\n   ").encode())
    done = run(str(source), "--control-number", "42")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("accepted; acknowledgement: 997")
    assert "stripped: BOM, leading whitespace" in done.stdout
    ack = segments((tmp_path / "po.edi.ack.x12").read_text())
    assert ack[0][13] == "000000042" and ["AK9", "A", "1", "1", "1"] in ack


def test_a_file_that_is_not_x12_is_refused_with_65_and_a_missing_one_is_66(
    tmp_path: Path,
) -> None:
    source = tmp_path / "nope.txt"
    source.write_text("not x12")
    done = run(str(source))
    assert done.returncode == 65
    assert "ISA" in done.stdout and done.stdout.startswith("REFUSED (not_x12)")
    as_json = json.loads(run(str(source), "--json").stdout)
    assert as_json["refusal"]["reason"] == "not_x12" and as_json["accepted"] is False
    missing = run(str(tmp_path / "missing"))
    assert missing.returncode == 66
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr


def test_exit_codes_follow_the_sysexits_table(tmp_path: Path) -> None:
    import os

    # A surplus GE: read and answered with a TA1 (rejected: 1, never a traceback).
    text = interchange(PO).replace("GE*1*55~", "GE*1*55~GE*1*55~")
    source = tmp_path / "surplus.x12"
    source.write_text(text)
    done = run(str(source), "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["interchanges"][0]["ta1_code"] == "022"
    # Beyond the size limit the settings give: refused, 65, the reason in the JSON.
    env = {**os.environ, "INTEGRATIONS_EDI_MAX_FILE_BYTES": "1024"}
    big = tmp_path / "big.x12"
    big.write_text(interchange(PO) * 8)
    refused = subprocess.run(
        [*CLI, str(big), "--json"], capture_output=True, text=True, timeout=120, env=env
    )
    assert refused.returncode == 65, refused.stderr
    assert json.loads(refused.stdout)["refusal"]["reason"] == "too_large"
    assert not (tmp_path / "big.x12.ack.x12").exists()
    # The acknowledgement cannot be written: 73 (EX_CANTCREAT), one line.
    cant = run(str(source), "--ack-out", str(tmp_path / "no" / "such" / "dir" / "ack.x12"))
    assert cant.returncode == 73 and cant.stderr.count("\n") == 1
