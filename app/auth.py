"""Bearer-token checks shared by the HTTP API and the codec server (constant-time)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status


def token_matches(presented: str | None, expected: str) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def require_bearer(request: Request, expected: str) -> None:
    if not token_matches(bearer_from(request), expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
