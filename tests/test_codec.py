"""The payload codec: AES-GCM, key id in metadata, rotation, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload

from adapters.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecError,
    EncryptionCodec,
    KeyRing,
    KeyRingError,
    UnknownKeyError,
)


def _payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


@given(st.binary(max_size=4096))
def test_round_trip_any_bytes(data: bytes) -> None:
    codec = EncryptionCodec(KeyRing.generate("k1"))
    sealed = codec.encrypt(_payload(data))
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    if len(data) >= 4:
        assert data not in sealed.data
    assert codec.decrypt(sealed) == _payload(data)


def test_old_key_still_decrypts_after_rotation() -> None:
    old = KeyRing.generate("k1")
    sealed = EncryptionCodec(old).encrypt(_payload(b'"123-45-6789"'))
    rotated = old.rotated("k2")
    codec = EncryptionCodec(rotated)
    assert codec.decrypt(sealed).data == b'"123-45-6789"'
    assert codec.encrypt(_payload(b"x")).metadata[KEY_ID_METADATA] == b"k2"


def test_unknown_key_id_is_a_clear_error() -> None:
    sealed = EncryptionCodec(KeyRing.generate("retired")).encrypt(_payload(b"secret"))
    with pytest.raises(UnknownKeyError, match=r"'retired'.*known: current"):
        EncryptionCodec(KeyRing.generate("current")).decrypt(sealed)


def test_tampered_ciphertext_or_swapped_key_id_fails_authentication() -> None:
    ring = KeyRing.generate("a").rotated("b")
    codec = EncryptionCodec(ring)
    sealed = codec.encrypt(_payload(b"payload"))
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    with pytest.raises(CodecError, match="failed authentication"):
        codec.decrypt(flipped)
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"a"}, data=sealed.data)
    with pytest.raises(CodecError):
        codec.decrypt(relabelled)


def test_unencrypted_payloads_pass_through() -> None:
    plain = _payload(b'"hello"')
    assert EncryptionCodec(KeyRing.generate("k")).decrypt(plain) == plain


def test_key_ring_json_round_trip_and_validation() -> None:
    ring = KeyRing.generate("k1").rotated("k2")
    assert KeyRing.from_json(ring.to_json()) == ring
    with pytest.raises(KeyRingError, match="malformed"):
        KeyRing.from_json('{"active": "k1"}')
    with pytest.raises(KeyRingError, match="32 bytes"):
        KeyRing.from_json('{"active": "k1", "keys": {"k1": "c2hvcnQ="}}')
    with pytest.raises(KeyRingError, match="not in the key ring"):
        KeyRing.from_json('{"active": "zz", "keys": {}}')
