"""PGP against real gpg: only intact files, encrypted to us and signed by the pinned key, pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.pgp import (
    Keyring,
    PgpKeyError,
    PgpVerificationError,
    keyring_from_settings,
    normalize_fingerprint,
)
from devstack.localstack.gpg import GpgHome
from runtime.settings import Settings, SettingsError
from tests.plugins.gpg import GpgKeys

PLAIN = b"id,name,email\r\n1,Ada,ada@example.com\r\n" * 2000


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_bytes(PLAIN)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "customers.csv")


def test_good_file_decrypts_and_maps_the_signing_subkey_to_the_pinned_primary(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "customers.csv.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    out = tmp_path / "out.csv"
    verified = gpg_keys.ours.decrypt_and_verify(sent, out, gpg_keys.partner.fingerprint)
    assert out.read_bytes() == PLAIN
    assert verified.signer_fingerprint == gpg_keys.partner.fingerprint
    # The partner signs with a subkey: the signature's key is not the primary itself.
    assert verified.signing_key_fingerprint != gpg_keys.partner.fingerprint
    assert verified.signed_at > 0


def test_pin_may_be_written_with_spaces_and_lower_case(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "f.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    fpr = gpg_keys.partner.fingerprint.lower()
    spaced = " ".join(fpr[i : i + 4] for i in range(0, len(fpr), 4))
    gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out", spaced)


def test_unsigned_file_is_refused_and_leaves_no_plaintext(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "unsigned.pgp"
    result = gpg_keys.senders._gpg.encrypt_file(
        str(plain), [gpg_keys.us.fingerprint], always_trust=True, armor=False, output=str(sent)
    )
    assert result.ok
    with pytest.raises(PgpVerificationError, match="not signed") as caught:
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)
    assert caught.value.retryable is False
    assert _leftovers(tmp_path) == ["unsigned.pgp"]


def test_wrong_signer_is_refused(gpg_keys: GpgKeys, plain: Path, tmp_path: Path) -> None:
    sent = tmp_path / "impostor.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.us.fingerprint, gpg_keys.impostor.fingerprint
    )
    with pytest.raises(PgpVerificationError, match="not signed by the pinned key") as caught:
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)
    assert caught.value.signer == gpg_keys.impostor.fingerprint
    assert _leftovers(tmp_path) == ["impostor.pgp"]


def test_signer_whose_key_we_do_not_have_is_refused(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    # Signed by "us" from the senders' side is impossible; sign by a key ours has never seen.
    stranger = gpg_keys.senders_home.generate_key("Stranger", "stranger@evil.test")
    sent = tmp_path / "stranger.pgp"
    gpg_keys.senders.encrypt_and_sign(plain, sent, gpg_keys.us.fingerprint, stranger.fingerprint)
    with pytest.raises(PgpVerificationError):
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)
    assert _leftovers(tmp_path) == ["stranger.pgp"]


@pytest.mark.parametrize("where", [0.5, 0.9, -20])
def test_tampered_file_is_refused(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path, where: float
) -> None:
    sent = tmp_path / "tampered.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    data = bytearray(sent.read_bytes())
    index = int(len(data) * where) if where > 0 else len(data) + int(where)
    data[index] ^= 0x01
    sent.write_bytes(bytes(data))
    with pytest.raises(PgpVerificationError):
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)
    assert _leftovers(tmp_path) == ["tampered.pgp"]


def test_signed_but_not_encrypted_is_refused(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "signed-only.gpg"
    with plain.open("rb") as src:
        result = gpg_keys.senders._gpg.sign_file(
            src, keyid=gpg_keys.partner.fingerprint, binary=True, output=str(sent)
        )
    assert result.status == "signature created"
    with pytest.raises(PgpVerificationError, match="not an encrypted"):
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)


def test_file_for_another_recipient_is_refused(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "not-for-us.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.impostor.fingerprint, gpg_keys.partner.fingerprint
    )
    with pytest.raises(PgpVerificationError, match="not encrypted to our key"):
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)


def test_garbage_is_refused(gpg_keys: GpgKeys, tmp_path: Path) -> None:
    sent = tmp_path / "garbage.pgp"
    sent.write_bytes(os.urandom(4096))
    with pytest.raises(PgpVerificationError):
        gpg_keys.ours.decrypt_and_verify(sent, tmp_path / "out.csv", gpg_keys.partner.fingerprint)


def test_outbound_round_trip_to_the_partner(gpg_keys: GpgKeys, plain: Path, tmp_path: Path) -> None:
    sent = tmp_path / "to-partner.pgp"
    gpg_keys.ours.encrypt_and_sign(
        plain, sent, gpg_keys.partner.fingerprint, gpg_keys.us.fingerprint, armor=True
    )
    assert sent.read_bytes().startswith(b"-----BEGIN PGP MESSAGE-----")
    out = tmp_path / "back.csv"
    gpg_keys.senders.decrypt_and_verify(sent, out, gpg_keys.us.fingerprint)
    assert out.read_bytes() == PLAIN


def test_encrypting_to_an_unknown_recipient_is_a_key_error(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    with pytest.raises(PgpKeyError):
        gpg_keys.ours.encrypt_and_sign(plain, tmp_path / "x.pgp", "0" * 40, gpg_keys.us.fingerprint)
    assert not (tmp_path / "x.pgp").exists()


def test_import_public_key_returns_its_fingerprint(gpg_keys: GpgKeys, tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    keyring = Keyring(home)  # created 0700 on first use
    try:
        assert home.stat().st_mode & 0o777 == 0o700
        armored = gpg_keys.senders_home.export_public(gpg_keys.partner.fingerprint)
        assert keyring.import_public_key(armored) == gpg_keys.partner.fingerprint
        assert keyring.import_public_key(armored) == gpg_keys.partner.fingerprint  # idempotent
        with pytest.raises(PgpKeyError):
            keyring.import_public_key("not a key")
        secret = gpg_keys.senders_home.export_secret(gpg_keys.partner.fingerprint)
        with pytest.raises(PgpKeyError):
            keyring.import_public_key(secret)
        both = armored + gpg_keys.senders_home.export_public(gpg_keys.impostor.fingerprint)
        with pytest.raises(PgpKeyError):
            keyring.import_public_key(both)
    finally:
        GpgHome(home).close()  # gpg --import starts an agent in the home


def test_short_key_ids_cannot_be_pinned() -> None:
    with pytest.raises(PgpKeyError):
        normalize_fingerprint("DEADBEEF")
    assert normalize_fingerprint("0x" + "ab" * 20) == "AB" * 20


def _bomb(gpg_keys: GpgKeys, tmp_path: Path, signer: str, size: int) -> Path:
    """``size`` zero bytes, compressed, encrypted to us and signed: a tiny file that inflates."""
    zeros = tmp_path / "zeros.bin"
    with zeros.open("wb") as out:
        out.truncate(size)
    sent = tmp_path / "bomb.pgp"
    result = gpg_keys.senders._gpg.encrypt_file(
        str(zeros),
        [gpg_keys.us.fingerprint],
        sign=signer,
        always_trust=True,
        armor=False,
        output=str(sent),
        extra_args=["--compress-algo", "zlib", "-z", "9"],
    )
    assert result.ok
    zeros.unlink()
    return sent


@pytest.mark.parametrize("signer", ["partner", "impostor"])
def test_plaintext_over_the_limit_is_refused_and_leaves_no_file(
    gpg_keys: GpgKeys, tmp_path: Path, signer: str
) -> None:
    """Issue 14: gpg writes the plaintext before it checks the signer, so the cap applies to
    every message, pinned signer or not; the partial output is deleted."""
    fpr = getattr(gpg_keys, signer).fingerprint
    sent = _bomb(gpg_keys, tmp_path, fpr, 20 << 20)
    assert sent.stat().st_size < 64 * 1024  # 20 MiB of plaintext from a few KiB
    capped = Keyring(gpg_keys.ours_home.path, max_output=1 << 20)
    out = tmp_path / "out.csv"
    with pytest.raises(PgpVerificationError, match="exceeds the limit") as caught:
        capped.decrypt_and_verify(sent, out, gpg_keys.partner.fingerprint)
    assert caught.value.retryable is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.pgp"]


def test_plaintext_under_the_limit_is_private_and_nothing_else_is_left(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "customers.csv.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    capped = Keyring(gpg_keys.ours_home.path, max_output=len(PLAIN) + 1)
    out = tmp_path / "out.csv"
    capped.decrypt_and_verify(sent, out, gpg_keys.partner.fingerprint)
    assert out.read_bytes() == PLAIN
    assert out.stat().st_mode & 0o777 == 0o600
    assert _leftovers(tmp_path) == ["customers.csv.pgp", "out.csv"]


def test_a_crashed_attempts_partial_plaintext_is_removed_by_the_retry(
    gpg_keys: GpgKeys, plain: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "customers.csv.pgp"
    gpg_keys.senders.encrypt_and_sign(
        plain, sent, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    out = tmp_path / "out.csv"
    left = tmp_path / ".out.csv.decrypting"  # what a worker killed mid-decrypt leaves
    left.mkdir()
    (left / "plain").write_bytes(PLAIN[:100])
    with pytest.raises(PgpVerificationError):
        gpg_keys.ours.decrypt_and_verify(sent, out, gpg_keys.impostor.fingerprint)
    assert _leftovers(tmp_path) == ["customers.csv.pgp"]


def test_keyring_comes_from_settings_only(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^missing setting INTEGRATIONS_GNUPG_HOME$"):
        keyring_from_settings(Settings(gnupg_home=None))
    home = tmp_path / "home"
    keyring = keyring_from_settings(Settings(gnupg_home=home, reader_max_decompressed_bytes=4096))
    assert keyring.gnupghome == home
    assert keyring.max_output == 4096
