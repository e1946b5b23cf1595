"""Throwaway GnuPG homes with freshly generated keys, for tests and the dev demo partner.

Keys are ed25519 (signing) with a cv25519 encryption subkey and no passphrase
(``%no-protection`` equivalent: ``--passphrase ''`` in loopback mode), which takes milliseconds
where RSA-3072 takes seconds. With ``signing_subkey=True`` the primary key only certifies and a
separate ed25519 subkey signs, as many partners' keys do; verification must then map the
subkey's signature back to the pinned primary fingerprint.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

GPG = "gpg"


@dataclass(frozen=True)
class GeneratedKey:
    name: str
    email: str
    fingerprint: str  # the primary key's


class GpgHome:
    """A GNUPGHOME in ``path`` (created 0700). :meth:`close` stops its gpg-agent."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        # Loopback pinentry so an empty passphrase works without a terminal.
        (self.path / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")

    def run(self, *args: str, input_data: bytes | None = None) -> str:
        proc = subprocess.run(
            [
                GPG,
                "--homedir",
                str(self.path),
                "--batch",
                "--yes",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                *args,
            ],
            input=input_data,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"gpg {args[0]} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode()

    def generate_key(self, name: str, email: str, *, signing_subkey: bool = False) -> GeneratedKey:
        """Generate an unprotected ed25519/cv25519 key and return its primary fingerprint."""
        uid = f"{name} <{email}>"
        usage = "cert" if signing_subkey else "sign,cert"
        self.run("--quick-generate-key", uid, "ed25519", usage, "never")
        fingerprint = self._primary_fingerprint(email)
        if signing_subkey:
            self.run("--quick-add-key", fingerprint, "ed25519", "sign", "never")
        self.run("--quick-add-key", fingerprint, "cv25519", "encr", "never")
        return GeneratedKey(name=name, email=email, fingerprint=fingerprint)

    def _primary_fingerprint(self, email: str) -> str:
        listing = self.run("--with-colons", "--fingerprint", "--list-keys", f"<{email}>")
        lines = listing.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("pub:"):
                # The "fpr" record right after "pub" is the primary key's.
                for follow in lines[index + 1 :]:
                    if follow.startswith("fpr:"):
                        return follow.split(":")[9]
        raise RuntimeError(f"no key for {email} after generation")

    def export_public(self, fingerprint: str) -> str:
        return self.run("--armor", "--export", fingerprint)

    def export_secret(self, fingerprint: str) -> str:
        return self.run("--armor", "--export-secret-keys", fingerprint)

    def import_key(self, armored: str) -> None:
        self.run("--import", input_data=armored.encode())

    def delete_secret_key(self, fingerprint: str) -> None:
        self.run("--delete-secret-keys", fingerprint)

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", str(self.path), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
        )

    def __enter__(self) -> GpgHome:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
