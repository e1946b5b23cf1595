"""The payroll provider's HTTP API, through one httpx seam.

* OAuth2 client credentials: the token is cached until shortly before it expires (and fetched
  again once on a 401).
* Every write carries an ``Idempotency-Key`` derived from the run's business key, so a retried
  activity never creates a second run or adds a batch twice.
* Reads are cursor-paginated (:meth:`ProviderClient.report`).
* 429 and 503 (and transport errors) are retried inside the call with exponential backoff that
  honours ``Retry-After`` (tenacity); Temporal's retry policy sits around the activity.
* A circuit breaker counts calls that still failed after those retries; after
  ``failure_threshold`` in a row it opens for ``reset_seconds`` and calls fail at once with
  :class:`ProviderUnavailable` carrying ``retry_after``, which the activity turns into a
  retryable ``ApplicationError`` with ``next_retry_delay`` so Temporal waits that long.

Errors::

    ProviderError               base
    ├── ProviderUnavailable     retryable: 429/5xx/transport after retries, or breaker open
    └── ProviderRejected        permanent: a 4xx the provider will answer the same way again
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class ProviderError(Exception):
    pass


class ProviderUnavailable(ProviderError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    def __init__(self, status: int | None, retry_after: float | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds form; an HTTP date is treated as absent)."""
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


@dataclass
class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failed calls; half-open after
    ``reset_seconds`` (one trial call: success closes it, failure opens it again)."""

    failure_threshold: int = 5
    reset_seconds: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    clock: Any = field(default=time.monotonic)

    def check(self) -> None:
        if self.opened_at is None:
            return
        remaining = self.opened_at + self.reset_seconds - self.clock()
        if remaining > 0:
            raise ProviderUnavailable("circuit open: the provider is failing", remaining)
        self.opened_at = None  # half-open: let this call try
        self.failures = self.failure_threshold - 1

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self.opened_at = self.clock()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


@dataclass
class ProviderClient:
    base_url: str
    client_id: str
    client_secret: str
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    attempts: int = 5
    max_wait_seconds: float = 30.0
    timeout_seconds: float = 30.0
    transport: httpx.AsyncBaseTransport | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record the waits
    _token: str | None = None
    _token_expires: float = 0.0
    _http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout_seconds, transport=self.transport
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- the seam -----------------------------------------------------------------------------

    async def _token_value(self, *, refresh: bool = False) -> str:
        if not refresh and self._token and time.monotonic() < self._token_expires - 30:
            return self._token
        answer = await self._client().post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        if answer.status_code in RETRYABLE_STATUS:
            raise _Retryable(
                answer.status_code,
                retry_after_seconds(answer.headers.get("Retry-After")),
                f"token endpoint answered {answer.status_code}",
            )
        if answer.status_code != 200:
            raise ProviderRejected("the provider refused our client credentials", 401)
        body = answer.json()
        self._token = str(body["access_token"])
        self._token_expires = time.monotonic() + float(body.get("expires_in", 300))
        return self._token

    async def _once(
        self, method: str, path: str, *, json: Any = None, key: str | None = None, **params: Any
    ) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        for refreshed in (False, True):
            token = await self._token_value(refresh=refreshed)
            try:
                answer = await self._client().request(
                    method,
                    path,
                    json=json,
                    params={k: v for k, v in params.items() if v is not None},
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as exc:
                raise _Retryable(None, None, f"{type(exc).__name__}") from None
            if answer.status_code == 401 and not refreshed:
                continue  # the token expired early or was revoked: fetch one more
            if answer.status_code in RETRYABLE_STATUS:
                raise _Retryable(
                    answer.status_code,
                    retry_after_seconds(answer.headers.get("Retry-After")),
                    f"{method} {path} answered {answer.status_code}",
                )
            if answer.status_code >= 400:
                raise ProviderRejected(
                    f"{method} {path} answered {answer.status_code}", answer.status_code
                )
            return answer.json()
        raise ProviderRejected(f"{method} {path}: unauthorised", 401)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_wait_seconds)
        backoff: float = wait_exponential_jitter(initial=0.2, max=self.max_wait_seconds)(state)
        return backoff

    async def call(
        self, method: str, path: str, *, json: Any = None, key: str | None = None, **params: Any
    ) -> Any:
        """One logical call: retried on 429/5xx with backoff, guarded by the breaker."""
        self.breaker.check()
        last: _Retryable | None = None
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=self._wait,
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
                sleep=self.sleep,
            ):
                with attempt:
                    result = await self._once(method, path, json=json, key=key, **params)
        except _Retryable as exc:
            last = exc
        except ProviderRejected:
            self.breaker.success()  # the provider answered: it is up
            raise
        if last is not None:
            self.breaker.failure()
            raise ProviderUnavailable(str(last), last.retry_after)
        self.breaker.success()
        return result

    # --- the API --------------------------------------------------------------------------------

    async def create_run(self, body: dict[str, Any], *, key: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/v1/runs", json=body, key=key)
        return result

    async def add_employees(
        self, run_id: str, employees: list[dict[str, Any]], *, key: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", f"/v1/runs/{run_id}/employees", json={"employees": employees}, key=key
        )
        return result

    async def submit(self, run_id: str, *, key: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", f"/v1/runs/{run_id}/submit", json={}, key=key
        )
        return result

    async def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/v1/runs/{run_id}")
        return result

    async def report(self, run_id: str, *, page_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every row of the run's report, page by page (cursor pagination)."""
        cursor: str | None = None
        while True:
            page = await self.call(
                "GET", f"/v1/runs/{run_id}/report", cursor=cursor, limit=page_size
            )
            for row in page["data"]:
                yield row
            cursor = page.get("next_cursor")
            if not cursor:
                return
