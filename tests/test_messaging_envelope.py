"""The envelope: round trip, deterministic ids, PII refused, poison classified (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.messaging import envelope as wire
from adapters.messaging.errors import PoisonMessage
from wire.messaging import Envelope, message_id_for

_segment = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
_type = st.lists(_segment, min_size=2, max_size=4).map(".".join)
_text = st.text(st.characters(blacklist_categories=("Cs", "Nd")), max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=10,
)


@given(
    event_type=_type,
    key=st.text(min_size=1, max_size=60).filter(str.strip),
    data=st.dictionaries(_text, _json, max_size=5),
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_round_trip_and_deterministic_id(
    event_type: str, key: str, data: dict[str, object], at: datetime
) -> None:
    envelope = Envelope(
        event_type=event_type, business_key=key, correlation_id="c", data=data, occurred_at=at
    )
    decoded = wire.decode(wire.encode(envelope))
    assert decoded == envelope
    assert decoded.message_id == message_id_for(event_type, key)
    again = Envelope(event_type=event_type, business_key=key, correlation_id="other")
    assert again.message_id == envelope.message_id


def test_raw_pii_is_refused() -> None:
    with pytest.raises(ValidationError, match="PII"):
        Envelope(
            event_type="payroll.completed",
            business_key="k",
            correlation_id="c",
            data={"employee": {"ssn": "123-45-6789"}},
        )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "InvalidEnvelope"),
        (b"[1, 2]", "InvalidEnvelope"),
        (
            b'{"event_type": "Bad Type", "business_key": "k", "correlation_id": "c"}',
            "InvalidEnvelope",
        ),
        (
            b'{"schema_version": "2.0", "event_type": "a.b", "business_key": "k", '
            b'"correlation_id": "c"}',
            "UnsupportedSchemaVersion",
        ),
    ],
)
def test_poison_is_classified(body: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage) as caught:
        wire.decode(body)
    assert caught.value.reason == reason


def test_an_ach_trace_number_rides_under_its_own_key_only() -> None:
    """A re-presentment's trace number is published; the same digits as free text, or an
    account-length number under the trace key, are still refused."""
    trace = "091000010000123"
    ok = Envelope(
        event_type="ach.return.represented",
        business_key="k",
        correlation_id="c",
        data={"detail": "re-presentment 1", "trace_number": trace},
    )
    assert ok.data["trace_number"] == trace
    for data in ({"detail": trace}, {"trace_number": "12345678901234567"}):
        with pytest.raises(ValidationError, match="PII"):
            Envelope(event_type="e", business_key="k", correlation_id="c", data=data)
