"""Write-once files in the landing zone (and the outbound folder beside it).

A file is written under a unique temporary name and hard-linked into place: the link either
creates the target atomically or fails because it exists, in which case an earlier attempt of
the same (content-addressed or allocated) work already put the same bytes there. Readers never
see a partial file and a retry never overwrites one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def publish_once(target: Path, write: Callable[[Path], object], *, read_only: bool = False) -> bool:
    """Create ``target`` by calling ``write(temporary path)``; False when it already existed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        if read_only:
            tmp.chmod(0o444)
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def copy_once(source: Path, target: Path) -> bool:
    """A read-only copy of ``source`` at ``target`` (the raw files partners sent)."""
    return publish_once(target, lambda tmp: shutil.copyfile(source, tmp), read_only=True)


def write_text_once(target: Path, text: str) -> bool:
    return publish_once(target, lambda tmp: tmp.write_text(text))


def write_bytes_once(target: Path, data: bytes) -> bool:
    return publish_once(target, lambda tmp: tmp.write_bytes(data))
