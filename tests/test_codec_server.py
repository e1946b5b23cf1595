"""The codec server as the Web UI uses it: CORS preflight, token or session cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from adapters.payload_codec import EncryptionCodec, KeyRing
from app.codec_server import COOKIE, create_app

UI = "http://localhost:8233"


@pytest.fixture
async def codec_http() -> AsyncIterator[tuple[httpx.AsyncClient, KeyRing]]:
    ring = KeyRing.generate("k1")
    app = create_app(ring, "t0ken-value", [UI])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://codec"
    ) as http:
        yield http, ring


def _body(ring: KeyRing, data: bytes) -> str:
    sealed = EncryptionCodec(ring).encrypt(Payload(metadata={"encoding": b"json/plain"}, data=data))
    return json_format.MessageToJson(Payloads(payloads=[sealed]))


async def test_preflight_answers_the_ui_origin_only(
    codec_http: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    http, _ = codec_http
    headers = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    ok = await http.options("/decode", headers=headers)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == UI
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "POST" in ok.headers["access-control-allow-methods"]
    other = await http.options("/decode", headers={**headers, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_login_cookie_unlocks_decode(codec_http: tuple[httpx.AsyncClient, KeyRing]) -> None:
    http, ring = codec_http
    body = _body(ring, b'"555-12-3456"')
    assert (await http.post("/decode", content=body)).status_code == 401
    wrong = await http.post("/login", content="token=nope")
    assert wrong.status_code == 401
    login = await http.post("/login", content="token=t0ken-value")
    assert login.status_code == 200
    assert COOKIE in http.cookies
    assert "t0ken-value" not in http.cookies[COOKIE]
    decoded = await http.post("/decode", content=body)
    assert decoded.status_code == 200
    assert json_format.Parse(decoded.text, Payloads()).payloads[0].data == b'"555-12-3456"'


async def test_encode_then_decode_round_trip_and_bad_input(
    codec_http: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    http, _ = codec_http
    auth = {"Authorization": "Bearer t0ken-value"}
    plain = json_format.MessageToJson(
        Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b"42")])
    )
    encoded = await http.post("/encode", content=plain, headers=auth)
    assert json_format.Parse(encoded.text, Payloads()).payloads[0].data != b"42"
    decoded = await http.post("/decode", content=encoded.text, headers=auth)
    assert json_format.Parse(decoded.text, Payloads()).payloads[0].data == b"42"
    assert (await http.post("/decode", content="not json", headers=auth)).status_code == 400
    foreign = _body(KeyRing.generate("other"), b"1")
    unknown = await http.post("/decode", content=foreign, headers=auth)
    assert unknown.status_code == 422
    assert "'other'" in unknown.json()["detail"]
