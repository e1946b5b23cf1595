"""AES-GCM payload encryption for everything this service puts into Temporal.

Every payload is serialized, encrypted with the key ring's *active* key and wrapped in a new
payload whose metadata carries ``encoding: binary/encrypted`` and the key id. Older keys stay in
the ring after a rotation, so histories written under them still decode; a payload whose key id
is not in the ring is a clear :class:`UnknownKeyError`, never garbage.

The payload's metadata (encoding, key id) is authenticated as associated data, so swapping the key
id or the encoding on a stored payload makes decryption fail rather than misread it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(Exception):
    """A payload could not be encrypted or decrypted."""


class KeyRingError(CodecError):
    """The key ring itself is malformed."""


class UnknownKeyError(CodecError):
    """A payload names a key id that this key ring does not hold."""


@dataclass(frozen=True)
class KeyRing:
    """Named 256-bit AES keys; ``active`` encrypts, all of them decrypt."""

    active: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyRingError(f"active key id {self.active!r} is not in the key ring")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise KeyRingError(f"key {key_id!r} must be 32 bytes, got {len(key)}")

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        """Parse ``{"active": "k2", "keys": {"k1": "<b64>", "k2": "<b64>"}}``."""
        try:
            doc = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
            return cls(active=str(doc["active"]), keys=keys)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise KeyRingError(f"malformed key ring: {type(exc).__name__}") from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
            }
        )

    @staticmethod
    def generate(key_id: str) -> KeyRing:
        return KeyRing(active=key_id, keys={key_id: AESGCM.generate_key(bit_length=256)})

    def rotated(self, new_key_id: str) -> KeyRing:
        """A ring whose new active key is fresh and whose old keys still decrypt."""
        if new_key_id in self.keys:
            raise KeyRingError(f"key id {new_key_id!r} already exists")
        keys = dict(self.keys)
        keys[new_key_id] = AESGCM.generate_key(bit_length=256)
        return KeyRing(active=new_key_id, keys=keys)


def _associated_data(key_id: str) -> bytes:
    return ENCODING + b"|" + key_id.encode()


class EncryptionCodec(PayloadCodec):
    """Temporal payload codec: encrypt on the way out, decrypt on the way in."""

    def __init__(self, key_ring: KeyRing) -> None:
        self._ring = key_ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in key_ring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._ring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), _associated_data(key_id)
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption (or by another codec) pass through untouched.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"payload encrypted with key id {key_id!r}, which this key ring does not hold "
                f"(known: {', '.join(sorted(self._ciphers))})"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _associated_data(key_id))
        except InvalidTag:
            raise CodecError(f"payload failed authentication under key id {key_id!r}") from None
        return Payload.FromString(plain)


def encrypted_key_ids(payloads: Iterable[Payload]) -> set[str]:
    """The key ids a set of payloads was encrypted with (for rotation reports)."""
    return {
        p.metadata[KEY_ID_METADATA].decode()
        for p in payloads
        if p.metadata.get("encoding") == ENCODING and KEY_ID_METADATA in p.metadata
    }
