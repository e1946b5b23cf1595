"""The envelope on the wire: JSON in one AMQP data section, with the routing facts mirrored in
AMQP properties (message id, subject = event type, correlation id, content type) so brokers
and tools can filter without parsing the body. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from adapters.messaging.errors import PoisonMessage
from wire.messaging import Envelope

CONTENT_TYPE = "application/json"
SUPPORTED_MAJOR = 1


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


def application_properties(envelope: Envelope) -> dict[str, Any]:
    return {"schema_version": envelope.schema_version, "event_type": envelope.event_type}


def decode(body: bytes | str) -> Envelope:
    """Parse and validate; anything that can never become valid is a :class:`PoisonMessage`."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(
            "InvalidEnvelope", f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}"
        ) from None
    if not isinstance(raw, dict):
        raise PoisonMessage("InvalidEnvelope", "body is not a JSON object")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PoisonMessage("InvalidEnvelope", f"{where}: {first['msg']}") from None
    if envelope.major != SUPPORTED_MAJOR:
        raise PoisonMessage(
            "UnsupportedSchemaVersion", f"schema_version {envelope.schema_version} is not 1.x"
        )
    return envelope
