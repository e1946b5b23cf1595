"""Host-key fingerprints (the pin) and client private keys."""

from __future__ import annotations

import io
from base64 import b64decode, b64encode
from hashlib import sha256
from pathlib import Path

import paramiko


def fingerprint(public_key: str) -> str:
    """SHA256 fingerprint (OpenSSH form) of a public key line ``"<type> <base64> [comment]"``."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("expected an OpenSSH public key line")
    return fingerprint_of_blob(b64decode(parts[1]))


def fingerprint_of_blob(blob: bytes) -> str:
    return "SHA256:" + b64encode(sha256(blob).digest()).decode().rstrip("=")


def load_private_key(path: Path, password: str | None = None) -> paramiko.PKey:
    """Load an OpenSSH or PEM private key file (ed25519, ECDSA or RSA)."""
    try:
        return paramiko.PKey.from_path(path, password)
    except (paramiko.SSHException, ValueError) as exc:
        raise ValueError(f"cannot load private key {path}: {type(exc).__name__}") from None


def private_key_from_text(text: str, password: str | None = None) -> paramiko.PKey:
    """Load a private key from its text (an environment variable or a mounted secret)."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password)
        except (paramiko.SSHException, ValueError):
            continue
    # Never echo the text: it is a secret.
    raise ValueError("not a supported private key (ed25519, ECDSA or RSA)")
