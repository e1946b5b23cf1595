"""The asyncpg pool the service uses, connected as the least-privilege app role.

Connecting retries with exponential backoff for a bounded time, then fails with a
:class:`DatabaseUnavailable` that names the host (never the password).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from runtime.settings import Settings


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached within the connect timeout."""


def redacted(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


async def create_pool(settings: Settings, dsn: str | None = None) -> asyncpg.Pool:
    dsn = dsn or settings.require("database_url")
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(settings.connect_timeout_seconds),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type((OSError, asyncpg.CannotConnectNowError)),
        ):
            with attempt:
                return await asyncpg.create_pool(
                    dsn, min_size=1, max_size=settings.database_pool_max
                )
    except RetryError:
        pass
    raise DatabaseUnavailable(
        f"PostgreSQL at {redacted(dsn)} unreachable after {settings.connect_timeout_seconds:g}s"
    )
