"""What a partner's server and its files are, as values, and the client-side jail every remote
path must stay inside."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.sftp.errors import PathOutsideJail

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes now in the local file, total size) as the download goes."""


@dataclass(frozen=True)
class SftpEndpoint:
    """Where and as whom to connect, and the host key to insist on.

    ``host_key`` is the pin: an OpenSSH public key line (``"ssh-ed25519 AAAA..."``, preferred:
    the handshake then asks for that key type only) or a ``"SHA256:..."`` fingerprint.
    ``root`` is a client-side jail: every remote path must stay inside it.
    """

    host: str
    port: int
    username: str
    host_key: str
    root: str = "/"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    path: str
    size: int
    mtime: int  # seconds since the epoch, as SFTP v3 reports it

    @property
    def signature(self) -> tuple[int, int]:
        """What must not move between two listings for the file to count as complete."""
        return (self.size, self.mtime)


@dataclass(frozen=True)
class DownloadResult:
    remote_path: str
    local_path: Path
    size: int
    resumed_from: int  # local bytes already present when this attempt began
    transferred: int  # bytes fetched by this attempt


def unchanged_between(
    first: Sequence[RemoteFile], second: Sequence[RemoteFile]
) -> list[RemoteFile]:
    """Files present in both listings with the same size and mtime (the rest may be growing)."""
    before = {f.path: f.signature for f in first}
    return [f for f in second if before.get(f.path) == f.signature]


def resolve_remote(root: str, path: str) -> str:
    """The absolute remote path for ``path`` under ``root``, or :class:`PathOutsideJail`."""
    if not path or any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        raise PathOutsideJail(f"remote path {path!r} is empty or has control characters")
    if ".." in path.split("/") or "\\" in path:
        raise PathOutsideJail(f"remote path {path!r} climbs out of its folder")
    base = posixpath.normpath("/" + root.strip("/"))
    full = posixpath.normpath(posixpath.join(base, path))
    if full != base and not full.startswith(base.rstrip("/") + "/"):
        raise PathOutsideJail(f"remote path {path!r} is outside {base}")
    return full


def listed_name(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise PathOutsideJail(f"{name!r} is not a file name in a folder")
    return name
