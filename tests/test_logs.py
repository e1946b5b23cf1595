"""Structured logs: JSON lines, correlation ids, and no PII or secrets."""

from __future__ import annotations

import io
import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from runtime.logs import configure, redact


def _capture(*args: object, extra: dict[str, object] | None = None) -> dict[str, object]:
    stream = io.StringIO()
    configure("INFO", stream)
    logging.getLogger("test").info(*args, extra=extra)
    line = stream.getvalue().strip().splitlines()[-1]
    return dict(json.loads(line))


def test_pii_and_secrets_are_redacted_in_message_and_args() -> None:
    doc = _capture(
        "payee %s ssn %s acct %s routing %s mail %s auth %s",
        "Jane",
        "123-45-6789",
        "000123456789",
        "021000021",
        "jane.doe@example.com",
        "Bearer abcdefghijklmnop",
    )
    text = str(doc["msg"])
    for secret in ("123-45-6789", "000123456789", "021000021", "jane.doe@example.com", "abcdefgh"):
        assert secret not in text
    assert "[SSN]" in text and "[EMAIL]" in text and "[NUMBER]" in text


def test_temporal_context_becomes_fields() -> None:
    doc = _capture(
        "activity ran",
        extra={"temporal_activity": {"workflow_id": "demo-1", "activity_type": "demo.greet"}},
    )
    assert doc["workflow_id"] == "demo-1"
    assert doc["activity_type"] == "demo.greet"
    assert doc["level"] == "INFO"


def test_exceptions_are_redacted_too() -> None:
    stream = io.StringIO()
    configure("INFO", stream)
    try:
        raise ValueError("bad account 123456789012")
    except ValueError:
        logging.getLogger("test").exception("failed for token=s3cr3t-value")
    doc = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "123456789012" not in doc["exc"]
    assert "s3cr3t-value" not in doc["msg"]


@given(st.from_regex(r"\d{6,17}", fullmatch=True), st.text(alphabet="abc ,;()", max_size=20))
def test_no_account_number_survives(number: str, around: str) -> None:
    assert number not in redact(f"{around} {number} {around}")


@given(st.from_regex(r"\d{3}-\d{2}-\d{4}", fullmatch=True))
def test_no_ssn_survives(ssn: str) -> None:
    assert ssn not in redact(f"employee ssn={ssn}.")
