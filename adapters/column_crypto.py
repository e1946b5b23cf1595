"""Application-level encryption of PII columns in PostgreSQL, with the payload key ring.

A sealed value is ``<key id>:<base64(nonce | ciphertext)>``; the column's name is bound in as
associated data, so a value copied into another column does not decrypt. Old keys keep opening
what they sealed after a rotation, exactly as for Temporal payloads. Lookups that must not
decrypt (is this account blocked?) use :func:`lookup_hash`, a keyed HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.payload_codec import CodecError, KeyRing, UnknownKeyError


def seal(ring: KeyRing, plaintext: str, column: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(ring.keys[ring.active]).encrypt(nonce, plaintext.encode(), column.encode())
    return f"{ring.active}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(ring: KeyRing, value: str, column: str) -> str:
    key_id, _, body = value.partition(":")
    key = ring.keys.get(key_id)
    if key is None:
        raise UnknownKeyError(f"column {column} sealed with key id {key_id!r}, not in the ring")
    raw = base64.b64decode(body)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], column.encode()).decode()
    except InvalidTag:
        raise CodecError(f"sealed value for column {column} failed authentication") from None


def lookup_hash(secret: bytes, *parts: str) -> str:
    """A stable, keyed fingerprint of ``parts`` (no rainbow table reverses it)."""
    message = "\x1f".join(parts).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
