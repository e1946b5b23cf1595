"""Structured JSON logs with correlation ids and no PII.

Every record goes through :class:`RedactionFilter` before it is formatted: SSNs, account and
routing numbers (any run of 6 to 17 digits), e-mail addresses and bearer tokens/secrets are replaced
in the message and its arguments. Correlation ids (workflow id, run id, activity, request id)
come from Temporal's log ``extra`` and from :data:`correlation`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

correlation: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "correlation", default=None
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [REDACTED]"),
    (
        re.compile(
            r"(?i)\b(token|secret|password|passwd|api[_-]?key|authorization)"
            r"(\"?\s*[:=]\s*\"?)[^\s\"',}]+"
        ),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
    # Routing (9 digits), account numbers (up to 17) and bare SSNs: no plain run of 6+ digits
    # survives. Timestamps and ids with separators are untouched.
    (re.compile(r"(?<![\d.:-])\d{6,17}(?![\d.:-])"), "[NUMBER]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactionFilter(logging.Filter):
    """Rewrites a record's message in place so no handler ever sees the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed %-format must not lose the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# Fields that Temporal's workflow/activity loggers put on records as ``extra``.
_TEMPORAL_EXTRA = ("temporal_workflow", "temporal_activity")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _TEMPORAL_EXTRA:
            value = getattr(record, key, None)
            if isinstance(value, dict):
                # Ids and types only; never args or payloads.
                doc.update(
                    {
                        k: v
                        for k, v in value.items()
                        if k
                        in {
                            "workflow_id",
                            "run_id",
                            "workflow_type",
                            "activity_id",
                            "activity_type",
                            "attempt",
                            "task_queue",
                            "namespace",
                        }
                    }
                )
        doc.update(correlation.get() or {})
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, default=str)


def configure(level: str = "INFO", stream: Any = None) -> None:
    """Route all logging through one redacting JSON handler on stderr (or ``stream``)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Temporal's loggers append their context dict to the message; we emit it as fields instead.
    from temporalio import activity, workflow

    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    # uvicorn installs its own handlers; make it use ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
