"""The messaging exceptions (tree in the package docstring), and what counts as transient."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.service import RPCError, RPCStatusCode


class MessagingError(Exception):
    """Base of the messaging errors."""


class NotConfigured(MessagingError):
    """No connection string or namespace is configured for what was asked."""


# Every dead-letter reason a consumer gives (the metrics create each at 0 per queue).
DEAD_LETTER_REASONS = (
    "InvalidEnvelope",  # not JSON, or not an envelope
    "UnknownCommand",  # no route for its event type
    "ContractViolation",  # the payload fails its contract
    "Rejected",  # the workflow's validator refused it
    "MaxAttemptsExceeded",  # failed on every delivery
)


class PoisonMessage(MessagingError):
    """A message that can never succeed; ``reason`` (one of DEAD_LETTER_REASONS) is the
    dead-letter reason."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description[:1000]


_TRANSIENT_RPC = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
}


def is_transient(exc: BaseException) -> bool:
    """Temporal or PostgreSQL down or slow: retry later, never dead-letter for it."""
    if isinstance(exc, RPCError):
        return exc.status in _TRANSIENT_RPC
    if isinstance(exc, asyncpg.PostgresError):
        return isinstance(
            exc,
            asyncpg.PostgresConnectionError
            | asyncpg.exceptions.CannotConnectNowError
            | asyncpg.exceptions.TooManyConnectionsError,
        )
    return isinstance(
        exc,
        OSError | TimeoutError | asyncio.TimeoutError | asyncpg.exceptions.InterfaceError,
    )
