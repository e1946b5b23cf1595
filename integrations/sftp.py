"""The SFTP seam: one pinned, key-authenticated session to a partner's server (paramiko, blocking).

Everything here blocks; callers run it in sync activities on a thread pool, never on an event loop.

Errors
    Every failure is one of these, so an activity can map ``retryable`` to Temporal's
    ``ApplicationError(non_retryable=...)`` and ``error_type`` to its ``type``::

        SftpError                       base; .retryable, .error_type
        ├── SftpTransientError          retryable: the next attempt may succeed
        │   ├── SftpConnectionLost      refused, reset, EOF, transport died mid-operation
        │   ├── SftpTimeout             connect, handshake or a read took too long
        │   ├── RemoteFileChanged       size/mtime moved under a download; local file reset
        │   └── RemoteOperationFailed   the server's generic SSH_FX_FAILURE (full disk, ...)
        └── SftpPermanentError          non-retryable: fix configuration or data first
            ├── HostKeyMismatch         unknown (not pinned) or changed host key; .expected/.actual
            ├── AuthenticationRefused   the server refused our key
            ├── PathOutsideJail         a path with "..", control bytes, or outside the root
            ├── RemoteFileNotFound      ENOENT
            └── RemotePermissionDenied  EACCES

Throughput
    Downloads read the file in bounded batches of pipelined 128 KiB requests (``readv`` over
    16 MiB at a time, its requests sent from the calling thread) on a channel with a 64 MiB window
    and 256 KiB packets, preferring AES-GCM. paramiko's defaults measured 5 MiB/s for plain reads
    (one 32 KiB round trip each) and ~100 MiB/s for ``get``, whose unbounded prefetch queues every
    request of the file at once and can stall. A server that answers with shorter reads than
    requested stays correct: paramiko re-reads the remainder.

    paramiko decrypts in one transport thread per connection and its channel buffer copied and
    memmoved every packet under the GIL, which held one stream to ~60-70 % of the ``sftp`` CLI.
    So the channel gets a copy-free receive buffer (:class:`_ChunkedPipe`), and a file of at
    least :data:`PARALLEL_MIN_BYTES` still to fetch is spread over :data:`DOWNLOAD_STREAMS`
    connections (the extra one opened with the same pin and key) in 8 MiB chunks that the calling
    thread appends strictly in order, so the local file is always a prefix of the remote one and
    its size stays the resume offset. Measured ~85 % of the CLI on a shared 2-core loopback
    (see benchmarks/sftp_throughput.py).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import posixpath
import socket
import stat
import threading
import time
import uuid
from base64 import b64decode, b64encode
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import paramiko
from paramiko.buffered_pipe import BufferedPipe

TEMPORARY_SUFFIXES: tuple[str, ...] = (".part", ".tmp", ".filepart")
READ_REQUEST_SIZE = 128 * 1024  # per SFTP read; OpenSSH serves up to 255 KiB per request
READ_BATCH_REQUESTS = 128  # requests in flight per batch: 16 MiB, bounds memory
WRITE_REQUEST_SIZE = 128 * 1024
CHANNEL_WINDOW = 64 * 1024 * 1024
CHANNEL_MAX_PACKET = 256 * 1024
PREFERRED_CIPHERS: tuple[str, ...] = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
DOWNLOAD_STREAMS = 2  # SFTP connections a large download is spread over
PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # below this (left to fetch), one stream
PARALLEL_CHUNK_BYTES = 8 * 1024 * 1024  # unit handed to a stream, written whole and in order

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes now in the local file, total size) after each batch."""


# --- errors ------------------------------------------------------------------------------------


class SftpError(Exception):
    """Base of every error this module raises."""

    retryable: bool = False

    @property
    def error_type(self) -> str:
        return type(self).__name__


class SftpTransientError(SftpError):
    retryable = True


class SftpPermanentError(SftpError):
    retryable = False


class SftpConnectionLost(SftpTransientError):
    pass


class SftpTimeout(SftpTransientError):
    pass


class RemoteFileChanged(SftpTransientError):
    pass


class RemoteOperationFailed(SftpTransientError):
    pass


class HostKeyMismatch(SftpPermanentError):
    """The server's host key is not the pinned one (or nothing was pinned)."""

    def __init__(self, host: str, port: int, expected: str | None, actual: str) -> None:
        self.host = host
        self.port = port
        self.expected = expected
        self.actual = actual
        shown = expected if expected else "nothing pinned"
        super().__init__(
            f"host key of {host}:{port} is {actual}, expected {shown}; refusing to connect"
        )


class AuthenticationRefused(SftpPermanentError):
    pass


class PathOutsideJail(SftpPermanentError):
    pass


class RemoteFileNotFound(SftpPermanentError):
    pass


class RemotePermissionDenied(SftpPermanentError):
    pass


# --- values ------------------------------------------------------------------------------------


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


# --- pure helpers ------------------------------------------------------------------------------


def fingerprint(public_key: str) -> str:
    """SHA256 fingerprint (OpenSSH form) of a public key line ``"<type> <base64> [comment]"``."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("expected an OpenSSH public key line")
    return _fingerprint_of_blob(b64decode(parts[1]))


def _fingerprint_of_blob(blob: bytes) -> str:
    return "SHA256:" + b64encode(sha256(blob).digest()).decode().rstrip("=")


def is_temporary_name(name: str) -> bool:
    """Names a sender uses while still writing: dot-files and ``.part``/``.tmp`` suffixes."""
    return name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES)


def unchanged_between(
    first: Sequence[RemoteFile], second: Sequence[RemoteFile]
) -> list[RemoteFile]:
    """Files present in both listings with the same size and mtime (the rest may be growing)."""
    before = {f.path: f.signature for f in first}
    return [f for f in second if before.get(f.path) == f.signature]


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


def _listed_name(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise PathOutsideJail(f"{name!r} is not a file name in a folder")
    return name


# --- the session -------------------------------------------------------------------------------


class SftpSession:
    """One authenticated SFTP session; use :func:`connect`. Not thread-safe: one per activity."""

    def __init__(
        self,
        endpoint: SftpEndpoint,
        transport: paramiko.Transport,
        client: paramiko.SFTPClient,
        opener: Callable[[], SftpSession] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._transport = transport
        self._client = client
        # Opens another session like this one (same pin and key), for parallel downloads.
        self._opener = opener

    # --- lifecycle

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        with contextlib.suppress(Exception):
            self._transport.close()

    def __enter__(self) -> SftpSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- listing

    def list_dir(self, path: str) -> list[RemoteFile]:
        """Regular files in ``path`` with size and mtime, temporary names left out, by name."""
        folder = resolve_remote(self.endpoint.root, path)
        with self._errors(folder):
            entries: list[Any] = self._client.listdir_attr(folder)
        files = [
            RemoteFile(
                name=str(e.filename),
                path=posixpath.join(folder, str(e.filename)),
                size=int(e.st_size or 0),
                mtime=int(e.st_mtime or 0),
            )
            for e in entries
            if e.st_mode is not None
            and stat.S_ISREG(e.st_mode)
            and not is_temporary_name(str(e.filename))
        ]
        return sorted(files, key=lambda f: f.name)

    def list_stable(
        self,
        path: str,
        settle_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[RemoteFile]:
        """List twice, ``settle_seconds`` apart; keep files whose size and mtime did not move."""
        first = self.list_dir(path)
        sleep(settle_seconds)
        return unchanged_between(first, self.list_dir(path))

    def stat(self, path: str) -> RemoteFile:
        full = resolve_remote(self.endpoint.root, path)
        with self._errors(full):
            attrs: Any = self._client.stat(full)
        return RemoteFile(
            name=posixpath.basename(full),
            path=full,
            size=int(attrs.st_size or 0),
            mtime=int(attrs.st_mtime or 0),
        )

    # --- transfer

    def download(
        self,
        remote: str,
        local: Path,
        *,
        resume: bool = True,
        expected: RemoteFile | None = None,
        progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Copy ``remote`` to ``local``, appending from the local file's size when ``resume``.

        The resume offset is the local file's real size, never a reported one, so bytes that
        did not reach the disk are fetched again. Pass ``expected`` (the listing entry) so that
        a file replaced between attempts is noticed instead of stitched together.

        A large download is fetched over :data:`DOWNLOAD_STREAMS` connections, but the local
        file still only grows by appending in order: it is always a prefix of the remote file.
        """
        full = resolve_remote(self.endpoint.root, remote)
        current = self.stat(full)
        if expected is not None and expected.signature != current.signature:
            self._reset(local)
            raise RemoteFileChanged(f"{full} changed since it was listed")
        total = current.size
        offset = local.stat().st_size if resume and local.exists() else 0
        if offset > total:
            offset = 0  # the local file is not a prefix of this one: start over
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "r+b" if offset else "wb") as out:
            out.truncate(offset)
            out.seek(offset)
            start = offset
            if progress is not None:
                progress(offset, total)
            parallel = (
                self._opener is not None
                and DOWNLOAD_STREAMS > 1
                and total - offset >= PARALLEL_MIN_BYTES
            )
            fetch = self._fetch_parallel if parallel else self._fetch_serial
            offset = fetch(full, out, offset, total, progress)
            out.flush()
            os.fsync(out.fileno())
        after = self.stat(full)
        if offset != total or after.signature != current.signature:
            self._reset(local)
            raise RemoteFileChanged(f"{full} changed during the download")
        return DownloadResult(
            remote_path=full,
            local_path=local,
            size=total,
            resumed_from=start,
            transferred=offset - start,
        )

    def _fetch_serial(
        self,
        full: str,
        out: BinaryIO,
        offset: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> int:
        with self._errors(full):
            remote_file: Any = self._client.open(full, "rb")
            try:
                _tune_for_download(remote_file)
                for batch in _batches(offset, total):
                    for block in remote_file.readv(batch):
                        out.write(block)
                        offset += len(block)
                    out.flush()
                    if progress is not None:
                        progress(offset, total)
            finally:
                with contextlib.suppress(Exception):
                    remote_file.close()
        return offset

    def _fetch_parallel(
        self,
        full: str,
        out: BinaryIO,
        offset: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> int:
        """Fetch ``[offset, total)`` over several connections; append it to ``out`` in order.

        Worker threads, each on its own connection (so each has its own paramiko transport
        thread doing the decryption), claim fixed-size chunks in file order and hand them back;
        this thread appends them strictly in order, so the local file never has a hole and its
        size stays a valid resume offset. A worker may run at most a few chunks ahead of the
        writer, which bounds memory. This session serves one worker; the others open their own
        session and close it when done. A second connection that cannot be opened only means
        fewer streams; any failure while fetching fails the download with its typed error.
        """
        plan = _ChunkPlan(offset, total, PARALLEL_CHUNK_BYTES, ahead=DOWNLOAD_STREAMS + 1)
        workers = [
            threading.Thread(
                target=_range_worker,
                args=(plan, full, self if index == 0 else None, self._opener),
                name=f"sftp-download-{index}",
                daemon=True,
            )
            for index in range(DOWNLOAD_STREAMS)
        ]
        for worker in workers:
            worker.start()
        try:
            while (blocks := plan.take()) is not None:
                for block in blocks:
                    out.write(block)
                    offset += len(block)
                out.flush()
                if progress is not None:
                    progress(offset, total)
        finally:
            plan.stop()
            for worker in workers:
                worker.join()
        return offset

    def upload_atomic(
        self, local: Path, remote: str, *, progress: ProgressCallback | None = None
    ) -> int:
        """Upload under a temporary dot-name in the target folder, then ``posix_rename`` it in.

        Readers never see a partial target; a failed attempt leaves at most a ``.part`` file,
        which listings ignore. An existing target is replaced atomically. Returns the size.
        """
        full = resolve_remote(self.endpoint.root, remote)
        folder, name = posixpath.split(full)
        tmp = posixpath.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.part")
        total = local.stat().st_size
        done = 0
        try:
            with self._errors(tmp), open(local, "rb") as src:
                remote_file: Any = self._client.open(tmp, "wb")
                try:
                    remote_file.MAX_REQUEST_SIZE = WRITE_REQUEST_SIZE
                    # Don't wait for each write's ack; close() collects them all.
                    remote_file.set_pipelined(True)
                    while chunk := src.read(4 * 1024 * 1024):
                        remote_file.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                finally:
                    remote_file.close()
                written = int(self._client.stat(tmp).st_size or 0)
            if written != total:
                raise RemoteOperationFailed(f"uploaded {written} of {total} bytes to {tmp}")
            self.posix_rename(tmp, full)
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.remove(tmp)
            raise
        return total

    def posix_rename(self, source: str, target: str) -> None:
        """Atomic rename that replaces ``target`` (OpenSSH's posix-rename extension)."""
        src = resolve_remote(self.endpoint.root, source)
        dst = resolve_remote(self.endpoint.root, target)
        with self._errors(src):
            self._client.posix_rename(src, dst)

    def rename_listed(self, folder: str, name: str, target: str) -> None:
        """Move a file *as the server listed it* out of ``folder``: its name may carry bytes
        that :func:`resolve_remote` refuses in paths we build (control characters), which is
        exactly the file that must be quarantined. The name still may not climb out."""
        src = posixpath.join(resolve_remote(self.endpoint.root, folder), _listed_name(name))
        dst = resolve_remote(self.endpoint.root, target)
        with self._errors(src):
            self._client.posix_rename(src, dst)

    def exists_listed(self, folder: str, name: str) -> bool:
        full = posixpath.join(resolve_remote(self.endpoint.root, folder), _listed_name(name))
        try:
            with self._errors(full):
                self._client.stat(full)
        except RemoteFileNotFound:
            return False
        return True

    def remove(self, path: str) -> None:
        full = resolve_remote(self.endpoint.root, path)
        with self._errors(full):
            self._client.remove(full)

    # --- internals

    @staticmethod
    def _reset(local: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            local.unlink()

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        try:
            yield
        except SftpError:
            raise
        except TimeoutError as exc:  # socket.timeout is TimeoutError
            raise SftpTimeout(f"timed out on {path}") from exc
        except (EOFError, paramiko.SSHException) as exc:
            raise SftpConnectionLost(f"connection lost on {path}: {exc}") from exc
        except OSError as exc:
            if not self._transport.is_active():
                raise SftpConnectionLost(f"connection lost on {path}: {exc}") from exc
            if exc.errno == errno.ENOENT:
                raise RemoteFileNotFound(f"no such remote file: {path}") from exc
            if exc.errno == errno.EACCES:
                raise RemotePermissionDenied(f"permission denied: {path}") from exc
            raise RemoteOperationFailed(f"server failed on {path}: {exc}") from exc


def _tune_for_download(remote_file: Any) -> None:
    """Larger read requests, and readv's requests sent from the calling thread.

    ``readv`` normally queues its requests from a background thread; when the connection drops,
    that thread dies with an unhandled exception (a stray traceback) while the reader only sees
    a generic error. A batch is 128 small requests, so sending them inline costs nothing and
    every failure reaches the caller as one of our errors. Relies on paramiko 5.1's internals,
    which the pinned version fixes; the kill-mid-download test guards it.
    """
    remote_file.MAX_REQUEST_SIZE = READ_REQUEST_SIZE

    def start_prefetch(chunks: list[tuple[int, int]], max_concurrent: int | None = None) -> None:
        remote_file._prefetching = True
        remote_file._prefetch_done = False
        remote_file._prefetch_thread(chunks, max_concurrent)

    remote_file._start_prefetch = start_prefetch


class _ChunkPlan:
    """Chunks of ``[start, total)`` claimed by download workers and taken back in order."""

    def __init__(self, start: int, total: int, chunk: int, ahead: int) -> None:
        self._start = start
        self._total = total
        self._chunk = chunk
        self._count = -(-(total - start) // chunk)
        self._ahead = ahead
        self._claimed = 0  # chunks handed to workers
        self._taken = 0  # chunks handed to the writer
        self._ready: dict[int, list[bytes]] = {}
        self._error: BaseException | None = None
        self._stopped = False
        self._extra: list[SftpSession] = []
        self._cond = threading.Condition()

    def claim(self) -> tuple[int, int, int] | None:
        """The next chunk to fetch as (index, start, end), or None when there is nothing left."""
        with self._cond:
            while (
                not self._stopped
                and self._error is None
                and self._claimed < self._count
                and self._claimed >= self._taken + self._ahead
            ):
                self._cond.wait()
            if self._stopped or self._error is not None or self._claimed >= self._count:
                return None
            index = self._claimed
            self._claimed += 1
        lo = self._start + index * self._chunk
        return index, lo, min(self._total, lo + self._chunk)

    def deliver(self, index: int, blocks: list[bytes]) -> None:
        with self._cond:
            self._ready[index] = blocks
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = exc
            self._cond.notify_all()

    def take(self) -> list[bytes] | None:
        """The next chunk in file order (None after the last); raises a worker's error once
        the chunks fetched before it are written."""
        with self._cond:
            while True:
                if self._taken >= self._count:
                    return None
                blocks = self._ready.pop(self._taken, None)
                if blocks is not None:
                    self._taken += 1
                    self._cond.notify_all()
                    return blocks
                if self._error is not None:
                    raise self._error
                self._cond.wait()

    def adopt(self, session: SftpSession) -> bool:
        """Register a worker's own session, closed by :meth:`stop`; False if already stopped."""
        with self._cond:
            if self._stopped:
                return False
            self._extra.append(session)
            return True

    def stop(self) -> None:
        """No more claims; close the workers' own sessions so a blocked read ends now."""
        with self._cond:
            self._stopped = True
            self._ready.clear()
            extra, self._extra = self._extra, []
            self._cond.notify_all()
        for session in extra:
            session.close()


def _range_worker(
    plan: _ChunkPlan,
    full: str,
    session: SftpSession | None,
    opener: Callable[[], SftpSession] | None,
) -> None:
    """Fetch claimed chunks over ``session``, or over a session of its own from ``opener``.

    Never raises: every failure goes to the plan, so the caller sees it as a typed error (and
    no thread dies with a stray traceback).
    """
    own = session is None
    if session is None:
        try:
            if opener is None:
                return
            session = opener()
        except BaseException:
            return  # fewer streams, not a failure: the other workers claim every chunk
        if not plan.adopt(session):
            session.close()
            return
    try:
        with session._errors(full):
            remote_file: Any = session._client.open(full, "rb")
            try:
                _tune_for_download(remote_file)
                while (claim := plan.claim()) is not None:
                    index, lo, hi = claim
                    blocks: list[bytes] = []
                    for batch in _batches(lo, hi):
                        blocks.extend(remote_file.readv(batch))
                    plan.deliver(index, blocks)
            finally:
                with contextlib.suppress(Exception):
                    remote_file.close()
    except BaseException as exc:
        plan.fail(exc)
    finally:
        if own:
            session.close()


class _ChunkedBytes:
    """What :class:`_ChunkedPipe` keeps instead of one ``array``: the received strings, queued.

    Supports exactly what ``BufferedPipe`` does with its buffer: ``len``, ``del b[:n]`` and
    ``del b[:]``; reading is :meth:`peek`.
    """

    __slots__ = ("_chunks", "_head", "_size")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of the first chunk already consumed
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._size += len(data)

    def peek(self, limit: int | None = None) -> bytes:
        wanted = self._size if limit is None else min(limit, self._size)
        if wanted == 0:
            return b""
        first = self._chunks[0]
        if len(first) - self._head >= wanted:
            if self._head == 0 and wanted == len(first):
                return first
            return first[self._head : self._head + wanted]
        parts: list[bytes] = []
        head = self._head
        for chunk in self._chunks:
            part = chunk[head : head + wanted] if head or len(chunk) > wanted else chunk
            parts.append(part)
            wanted -= len(part)
            head = 0
            if wanted == 0:
                break
        return b"".join(parts)

    def __delitem__(self, key: slice) -> None:
        count = self._size if key.stop is None else min(int(key.stop), self._size)
        self._size -= count
        while count:
            left = len(self._chunks[0]) - self._head
            if count < left:
                self._head += count
                return
            self._chunks.popleft()
            self._head = 0
            count -= left


class _ChunkedPipe(BufferedPipe):  # type: ignore[misc]  # paramiko ships no type hints
    """A channel's receive buffer without paramiko's per-read copying.

    ``BufferedPipe`` appends every packet to an ``array`` and deletes each read from its front,
    which moves everything still buffered: with a large window and a reader that fell a little
    behind, that memmove (under the GIL) was the largest cost of a download. Same locking and
    semantics; only the storage differs. Relies on paramiko 5.1's ``BufferedPipe`` internals
    (``_buffer``, ``_buffer_frombytes``, ``_buffer_tobytes``), which the pinned version fixes.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffer = _ChunkedBytes()

    def _buffer_frombytes(self, data: bytes) -> None:
        self._buffer.append(bytes(data))

    def _buffer_tobytes(self, limit: int | None = None) -> bytes:
        result: bytes = self._buffer.peek(limit)
        return result


def _batches(offset: int, total: int) -> Iterator[list[tuple[int, int]]]:
    batch: list[tuple[int, int]] = []
    while offset < total:
        length = min(READ_REQUEST_SIZE, total - offset)
        batch.append((offset, length))
        offset += length
        if len(batch) == READ_BATCH_REQUESTS:
            yield batch
            batch = []
    if batch:
        yield batch


def connect(
    endpoint: SftpEndpoint,
    private_key: paramiko.PKey,
    *,
    timeout: float = 30.0,
    io_timeout: float = 60.0,
) -> SftpSession:
    """Open a session: TCP, handshake, host key check against the pin, key auth, SFTP channel.

    The host key is compared after the key exchange (which proves the server holds it) and
    before anything of ours is sent; a mismatch closes the connection.
    """
    where = f"{endpoint.host}:{endpoint.port}"
    pin = endpoint.host_key.strip()
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except TimeoutError as exc:
        raise SftpTimeout(f"connecting to {where} timed out") from exc
    except OSError as exc:
        raise SftpConnectionLost(f"cannot connect to {where}: {exc.strerror or exc}") from exc
    transport = paramiko.Transport(
        sock, default_window_size=CHANNEL_WINDOW, default_max_packet_size=CHANNEL_MAX_PACKET
    )
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        options: Any = transport.get_security_options()
        # AES-GCM first: one AEAD pass per packet instead of CTR plus a separate HMAC is the
        # cheapest path through paramiko's single transport thread (measured ~30 % faster).
        options.ciphers = [
            *PREFERRED_CIPHERS,
            *(c for c in options.ciphers if c not in PREFERRED_CIPHERS),
        ]
        pinned_type = pin.split()[0] if len(pin.split()) >= 2 else None
        if pinned_type is not None:
            # Ask only for the pinned key type, or a server with several keys may offer another.
            options.key_types = [pinned_type]
        try:
            transport.start_client(timeout=timeout)
        except paramiko.SSHException as exc:
            if pinned_type is not None and "host key" in str(exc).lower():
                raise HostKeyMismatch(
                    endpoint.host,
                    endpoint.port,
                    fingerprint(pin),
                    f"no {pinned_type} host key offered",
                ) from None
            raise
        server_key: Any = transport.get_remote_server_key()
        actual = _fingerprint_of_blob(server_key.asbytes())
        expected = fingerprint(pin) if pinned_type is not None else (pin or None)
        if expected is None or actual != expected:
            raise HostKeyMismatch(endpoint.host, endpoint.port, expected, actual)
        try:
            transport.auth_publickey(endpoint.username, private_key)
        except paramiko.AuthenticationException as exc:
            raise AuthenticationRefused(
                f"{where} refused key {private_key.fingerprint} for user {endpoint.username}"
            ) from exc
        channel: Any = transport.open_session(
            window_size=CHANNEL_WINDOW, max_packet_size=CHANNEL_MAX_PACKET, timeout=timeout
        )
        channel.settimeout(io_timeout)
        channel.in_buffer = _ChunkedPipe()  # before the subsystem starts, so before any data
        channel.invoke_subsystem("sftp")
        client = paramiko.SFTPClient(channel)
        transport.set_keepalive(15)
        opener = functools.partial(
            connect, endpoint, private_key, timeout=timeout, io_timeout=io_timeout
        )
        return SftpSession(endpoint, transport, client, opener)
    except SftpError:
        transport.close()
        raise
    except TimeoutError as exc:
        transport.close()
        raise SftpTimeout(f"{where} did not answer in time") from exc
    except (EOFError, OSError, paramiko.SSHException) as exc:
        transport.close()
        raise SftpConnectionLost(f"connection to {where} failed: {exc}") from exc
