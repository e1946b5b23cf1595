"""The PGP seam: decrypt-and-verify partner files and encrypt-and-sign ours (gpg via python-gnupg).

Blocking: each call runs one ``gpg`` process that streams file to file, so memory stays flat
for any file size. Callers run it in sync activities on a thread pool.

Verification is strict on purpose. python-gnupg reports ``ok`` for a message that decrypted but
was unsigned or signed by an unknown key, so a file passes only when all of these hold:
gpg decrypted it (``DECRYPTION_OKAY``, which includes the integrity check), every signature on it
is good (``valid``, no problem reported), and one of them was made by the pinned key: its primary
fingerprint, or a subkey whose primary (``VALIDSIG``'s last field) is the pinned one.

gpg writes the plaintext *before* it can tell who signed it, so a hostile message (a few hundred
bytes from any key, compressed) could fill the volume before it is refused. The output is
capped with ``--max-output`` (``Keyring(max_output=...)``, from the setting
``INTEGRATIONS_READER_MAX_DECOMPRESSED_BYTES``) and written into a private folder (0700, file 0600)
beside ``dst``; only a verified file is renamed to ``dst``, and the folder is removed on every
path, so a refused, oversized or interrupted decrypt leaves no plaintext behind.

Production code gets its keyring from :func:`keyring_from_settings` only.

Errors::

    PgpError                    base; .retryable, .error_type
    ├── PgpVerificationError    permanent: unsigned, wrong signer, bad signature, tampered,
    │                           not encrypted, not for our key, plaintext over the limit
    ├── PgpKeyError             permanent: a key that can't be imported or used
    └── PgpToolError            retryable: gpg itself failed to run (agent, disk)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg

from runtime.settings import Settings, SettingsError


class PgpError(Exception):
    retryable: bool = False

    @property
    def error_type(self) -> str:
        return type(self).__name__


class PgpVerificationError(PgpError):
    """The file is not an intact message encrypted to us and signed by the pinned key."""

    def __init__(self, reason: str, *, signer: str | None = None) -> None:
        self.reason = reason
        self.signer = signer
        super().__init__(reason if signer is None else f"{reason} (signer {signer})")


class PgpKeyError(PgpError):
    pass


class PgpToolError(PgpError):
    retryable = True


@dataclass(frozen=True)
class VerifiedFile:
    path: Path
    signer_fingerprint: str  # the pinned primary key's fingerprint
    signing_key_fingerprint: str  # the key that made the signature (a subkey, or the primary)
    signed_at: int  # signature timestamp, seconds since the epoch


def normalize_fingerprint(fingerprint: str) -> str:
    """Upper-case hex without spaces; refuses anything that isn't a v4 (40) or v5 (64) one."""
    fpr = "".join(fingerprint.split()).upper().removeprefix("0X")
    if len(fpr) not in (40, 64) or any(ch not in "0123456789ABCDEF" for ch in fpr):
        # Short key ids are forgeable; only full fingerprints may be pinned.
        raise PgpKeyError("a pinned PGP key must be a full 40- or 64-hex-digit fingerprint")
    return fpr


class Keyring:
    """A GnuPG home holding our secret key(s) and partners' public keys.

    ``passphrase`` unlocks our secret key when it has one (from a mounted secret; never logged).
    ``max_output`` caps the plaintext bytes a decrypt may write (None: no cap, tests only).
    """

    def __init__(
        self,
        gnupghome: Path,
        *,
        passphrase: str | None = None,
        gpgbinary: str = "gpg",
        max_output: int | None = None,
    ) -> None:
        self.gnupghome = Path(gnupghome)
        if not self.gnupghome.exists():
            self.gnupghome.mkdir(mode=0o700, parents=True)
        self._passphrase = passphrase
        self.max_output = max_output
        self._gpg: Any = gnupg.GPG(gnupghome=str(self.gnupghome), gpgbinary=gpgbinary)
        # gpg writes whatever bytes a hostile file makes it print to stderr; python-gnupg reads
        # stderr with this codec in a thread, and a strict UTF-8 decode there kills the thread.
        self._gpg.encoding = "latin-1"

    def __repr__(self) -> str:
        return f"Keyring({str(self.gnupghome)!r})"

    def import_public_key(self, armored: str) -> str:
        """Import one public key; return its primary fingerprint. Refuses secret keys."""
        if "PRIVATE KEY BLOCK" in armored:
            raise PgpKeyError("refusing to import a secret key as a partner key")
        result: Any = self._gpg.import_keys(armored)
        fingerprints = sorted({normalize_fingerprint(f) for f in result.fingerprints or []})
        if len(fingerprints) != 1:
            raise PgpKeyError(f"expected exactly one public key, found {len(fingerprints)}")
        return fingerprints[0]

    def scan_public_keys(self, armored: str) -> list[str]:
        """Primary fingerprints of the keys in an armored block, without importing them
        (``gpg --show-keys``): look before a key may reach the keyring."""
        if "PRIVATE KEY BLOCK" in armored:
            return []
        scanned: Any = self._gpg.scan_keys_mem(armored)
        return sorted(
            {str(k.get("fingerprint", "")).upper() for k in scanned if k.get("type") == "pub"}
        )

    def export_public_key(self, fingerprint: str) -> str:
        fpr = normalize_fingerprint(fingerprint)
        armored = str(self._gpg.export_keys(fpr))
        if "PUBLIC KEY BLOCK" not in armored:
            raise PgpKeyError(f"no public key {fpr} in this keyring")
        return armored

    def decrypt_and_verify(
        self, src_path: Path, dst_path: Path, pinned_fingerprint: str
    ) -> VerifiedFile:
        """Decrypt ``src_path`` to ``dst_path`` (mode 0600) if it is signed by the pinned key and
        its plaintext fits ``max_output``, else refuse and leave no plaintext."""
        pinned = normalize_fingerprint(pinned_fingerprint)
        # One private folder per target: a crashed earlier attempt's partial output is in it
        # and goes first.
        private = decrypt_workspace(dst_path)
        shutil.rmtree(private, ignore_errors=True)
        private.mkdir(mode=0o700, parents=True)
        tmp = private / "plain"
        extra = None if self.max_output is None else ["--max-output", str(self.max_output)]
        try:
            try:
                result: Any = self._gpg.decrypt_file(
                    str(src_path), passphrase=self._passphrase, output=str(tmp), extra_args=extra
                )
            except OSError as exc:
                raise PgpToolError(f"gpg could not run: {exc.strerror or exc}") from exc
            written = tmp.stat().st_size if tmp.exists() else 0
            if self.max_output is not None and written >= self.max_output:
                # gpg stops at the cap and may report nothing useful: the size says it.
                raise PgpVerificationError(
                    f"the decrypted file exceeds the limit of {self.max_output:,} bytes"
                )
            verified = _check(result, pinned)
            tmp.chmod(0o600)
            os.replace(tmp, dst_path)
            return VerifiedFile(
                path=dst_path,
                signer_fingerprint=pinned,
                signing_key_fingerprint=verified[0],
                signed_at=verified[1],
            )
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def encrypt_and_sign(
        self,
        src_path: Path,
        dst_path: Path,
        recipient_fingerprint: str,
        signer_fingerprint: str,
        *,
        armor: bool = False,
    ) -> None:
        """Encrypt ``src_path`` to the recipient and sign it with our key, into ``dst_path``."""
        recipient = normalize_fingerprint(recipient_fingerprint)
        signer = normalize_fingerprint(signer_fingerprint)
        # Checked first: gpg exits at once on a missing key and python-gnupg then reports only
        # a broken pipe.
        if not self._has_key(recipient, secret=False):
            raise PgpKeyError(f"no public key {recipient} to encrypt to")
        if not self._has_key(signer, secret=True):
            raise PgpKeyError(f"no secret key {signer} to sign with")
        tmp = dst_path.with_name(f".{dst_path.name}.encrypting")
        tmp.unlink(missing_ok=True)
        try:
            with open(src_path, "rb") as src:
                try:
                    # always_trust: the recipient is named by a pinned full fingerprint, which is
                    # the trust decision; gpg's web-of-trust would otherwise refuse the key.
                    result: Any = self._gpg.encrypt_file(
                        src,
                        [recipient],
                        sign=signer,
                        always_trust=True,
                        armor=armor,
                        passphrase=self._passphrase,
                        output=str(tmp),
                    )
                except OSError as exc:
                    raise PgpToolError(f"gpg could not run: {exc.strerror or exc}") from exc
            if not result.ok:
                status = str(result.status or "unknown error")
                if "recipient" in status or "signer" in status or "key" in status:
                    raise PgpKeyError(f"cannot encrypt to {recipient} / sign as {signer}: {status}")
                raise PgpToolError(f"gpg failed to encrypt: {status}")
            os.replace(tmp, dst_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _has_key(self, fingerprint: str, *, secret: bool) -> bool:
        listed: Any = self._gpg.list_keys(secret=secret, keys=[fingerprint])
        return any(
            fingerprint in {str(k.get("fingerprint", "")).upper(), *k.get("subkey_info", {})}
            for k in listed
        )


def decrypt_workspace(dst_path: Path) -> Path:
    """The private folder a decrypt to ``dst_path`` writes in (gone when it returns; a killed
    worker may leave it, which the next decrypt or the staging cleanup removes)."""
    return dst_path.with_name(f".{dst_path.name}.decrypting")


def discard_plaintext(dst_path: Path) -> None:
    """Remove a decrypt's output and whatever a killed one left."""
    dst_path.unlink(missing_ok=True)
    shutil.rmtree(decrypt_workspace(dst_path), ignore_errors=True)


def keyring_from_settings(settings: Settings) -> Keyring:
    """The service's keyring: ``INTEGRATIONS_GNUPG_HOME`` (required, no fallback), its
    passphrase, and the plaintext cap. Missing configuration is one :class:`SettingsError`."""
    home = settings.gnupg_home
    if home is None:
        raise SettingsError("missing setting INTEGRATIONS_GNUPG_HOME")
    passphrase = settings.gnupg_passphrase
    return Keyring(
        home,
        passphrase=passphrase.get_secret_value() if passphrase else None,
        max_output=settings.reader_max_decompressed_bytes,
    )


def _check(result: Any, pinned: str) -> tuple[str, int]:
    """Return (signing key fingerprint, timestamp) of the pinned signature, or refuse."""
    status = str(result.status or "")
    if not result.ok:
        if "no secret key" in status:
            raise PgpVerificationError("the file is not encrypted to our key")
        if "decryption" in status or "unexpected" in status or "no data" in status:
            raise PgpVerificationError(f"the file is damaged or not a PGP message ({status})")
        raise PgpVerificationError(f"the file is not an encrypted PGP message ({status})")
    signatures: list[dict[str, Any]] = list((result.sig_info or {}).values())
    if not signatures and not result.problems and result.fingerprint is None:
        raise PgpVerificationError("the file is not signed")
    if not result.valid or result.problems:
        problem = result.problems[0] if result.problems else {}
        raise PgpVerificationError(
            f"a signature on the file is not good ({problem.get('status') or status})",
            signer=problem.get("keyid"),
        )
    for info in signatures:
        if info.get("status") != "signature valid":
            raise PgpVerificationError(
                f"a signature on the file is not good ({info.get('status')})",
                signer=info.get("keyid") or info.get("fingerprint"),
            )
    for info in signatures:
        primary = str(info.get("pubkey_fingerprint") or info.get("fingerprint") or "").upper()
        if primary == pinned:
            return str(info.get("fingerprint") or primary).upper(), int(info.get("timestamp") or 0)
    signer = str(signatures[0].get("pubkey_fingerprint") or "") if signatures else None
    raise PgpVerificationError("the file is not signed by the pinned key", signer=signer)
