"""The codec server: lets the Temporal Web UI (and ``temporal --codec-endpoint``) show decoded
payloads to someone holding the codec token, and to no one else.

Endpoints: ``POST /decode`` and ``POST /encode`` with ``{"payloads": [{"metadata": {...},
"data": "<base64>"}]}`` (Temporal's proto-JSON), ``GET /login`` and ``POST /login`` (the browser
route: exchanging the token for an HttpOnly cookie, for the UI's "include cross-origin
credentials" setting), ``GET /healthz``.

Authorisation: ``Authorization: Bearer <token>`` (the CLI, or the UI with "pass access token")
or the session cookie. CORS is answered for the configured UI origins only, with credentials.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from adapters.payload_codec import CodecError, EncryptionCodec, KeyRing
from app.auth import bearer_from, token_matches

COOKIE = "integrations_codec_session"

_LOGIN_PAGE = """<!doctype html><title>Codec server login</title>
<form method="post" action="/login"><label>Codec token
<input type="password" name="token" autocomplete="off" autofocus></label>
<button>Unlock payloads</button></form>
<p>Then, in the Temporal Web UI, open <em>Codec Server</em> settings and enable
<em>Include cross-origin credentials</em>.</p>"""


def _session_value(token: str) -> str:
    # The cookie holds a MAC of the token, not the token itself.
    return hmac.new(token.encode(), b"codec-session", hashlib.sha256).hexdigest()


def create_app(key_ring: KeyRing, token: str, cors_origins: list[str]) -> FastAPI:
    codec = EncryptionCodec(key_ring)
    session = _session_value(token)
    app = FastAPI(title="integrations codec server", docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins,
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
    )

    def authorise(request: Request) -> None:
        if token_matches(bearer_from(request), token):
            return
        if token_matches(request.cookies.get(COOKIE), session):
            return
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="codec token required",
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def payloads_from(request: Request) -> list[Payload]:
        try:
            body = await request.body()
            message = json_format.Parse(body, Payloads())
        except json_format.ParseError as exc:
            raise HTTPException(status_code=400, detail=f"not a Payloads JSON: {exc}") from None
        return list(message.payloads)

    def reply(payloads: list[Payload]) -> Response:
        return Response(
            content=json_format.MessageToJson(Payloads(payloads=payloads)),
            media_type="application/json",
        )

    # The UI calls "<endpoint>/decode?preserveStorageRefs=true": route on the path only.
    @app.post("/decode")
    async def decode(request: Request) -> Response:
        authorise(request)
        payloads = await payloads_from(request)
        try:
            return reply(await codec.decode(payloads))
        except CodecError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        authorise(request)
        return reply(await codec.encode(await payloads_from(request)))

    @app.get("/login", response_class=HTMLResponse)
    async def login_page() -> str:
        return _LOGIN_PAGE

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if not token_matches((form.get("token") or [""])[0], token):
            raise HTTPException(status_code=401, detail="wrong codec token")
        response = HTMLResponse("<p>Payloads unlocked for this browser. You can close this.</p>")
        # SameSite=None so the UI's cross-origin fetch carries it; browsers treat localhost as
        # a secure context, so Secure works on http://localhost too.
        response.set_cookie(
            COOKIE, session, httponly=True, secure=True, samesite="none", max_age=8 * 3600
        )
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "active_key": key_ring.active, "keys": sorted(key_ring.keys)}

    return app
