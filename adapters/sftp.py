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
    A download is one open handle read by :class:`_ReadPipeline`, which speaks SFTP reads itself:
    a sliding window of :data:`READ_WINDOW` ``SSH_FXP_READ`` requests of up to 255 KiB (OpenSSH's
    sftp-server cap; a server that answers shorter is asked for the rest, and later requests
    shrink to its size), refilled as replies come in, several requests to one channel packet.
    Replies are parsed straight off the channel's receive chunks (:class:`_ChunkedPipe`, which
    wakes the reader once per reply rather than per SSH packet) and handed on as views, never
    copied; a writer thread appends them in order with ``pwritev`` and flushes to disk as it
    goes, so the final fsync is short. The transport reads its socket in 256 KiB pieces
    (:class:`_BufferedSocket`), AES-GCM is preferred, compression stays off, and the channel
    has a 64 MiB window.

    paramiko's own paths measured 5 MiB/s for plain reads (one 32 KiB round trip each), ~100
    MiB/s for ``get`` and 66-78 % of the ``sftp`` CLI for batched ``readv`` (the server idled
    at each batch boundary, and per-reply Python objects plus GIL hand-offs between the
    transport thread and the reader cost the rest; measured 59 % of the CLI on the same
    cipher). This path measured 81-97 % of that CLI (per-round medians; 75-89 % as a ratio
    of median rates), and ~150 % of the CLI with its default cipher, on a shared 2-core
    loopback at load 3-5, fsync included for us only (benchmarks/sftp_throughput.py).

    :data:`DOWNLOAD_STREAMS` > 1 spreads a large download over several connections (the extra
    ones opened with the same pin and key) in chunks appended strictly in order, so the local
    file is always a prefix of the remote one and its size stays the resume offset. With the
    pipeline above a second stream measured no faster on 2 cores (more GIL contention, twice
    the server sessions), so the default is one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import posixpath
import queue
import socket
import stat
import struct
import threading
import time
import uuid
from base64 import b64decode, b64encode
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import paramiko
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout
from paramiko.common import cMSG_CHANNEL_WINDOW_ADJUST

# One temporary-name rule (a feed's naming contract configures its suffixes); re-exported.
from intake.naming import DEFAULT_TEMPORARY_SUFFIXES
from intake.naming import is_temporary_name as is_temporary_name

READ_REQUEST_SIZE = 255 * 1024  # per SFTP read: OpenSSH's sftp-server cap (smaller: adapts)
READ_WINDOW = 64  # reads in flight at once (~16 MiB): keeps the server busy, bounds memory
READ_REFILL = 8  # send new reads once this many slots are free, in one channel packet
RECEIVE_MAX = 4 * 1024 * 1024  # most bytes taken off the channel buffer at once
RECEIVE_SOCKET = 256 * 1024  # most bytes one socket read takes
WRITE_COALESCE = 4 * 1024 * 1024  # local writes gather this much (one pwritev, one progress)
WRITE_QUEUE = 8  # writes the file may lag behind the network (32 MiB), bounds memory
SYNC_EVERY = 64 * 1024 * 1024  # flush to disk as the download goes, so the final fsync is short
WRITE_REQUEST_SIZE = 128 * 1024
CHANNEL_WINDOW = 64 * 1024 * 1024
CHANNEL_MAX_PACKET = 256 * 1024
PREFERRED_CIPHERS: tuple[str, ...] = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
DOWNLOAD_STREAMS = 1  # SFTP connections a large download is spread over (see Throughput)
PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # below this (left to fetch), one stream
PARALLEL_CHUNK_BYTES = 8 * 1024 * 1024  # unit handed to a stream, written whole and in order

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes now in the local file, total size) as the download goes."""

Piece = bytes | memoryview
"""A run of file bytes as received: a view into a receive buffer, never copied."""


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

    def list_dir(
        self, path: str, temporary_suffixes: Iterable[str] = DEFAULT_TEMPORARY_SUFFIXES
    ) -> list[RemoteFile]:
        """Regular files in ``path`` with size and mtime, by name; names a sender is still
        writing (dot-files, the feed's ``temporary_suffixes``) are left out."""
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
            and not is_temporary_name(str(e.filename), temporary_suffixes)
        ]
        return sorted(files, key=lambda f: f.name)

    def list_stable(
        self,
        path: str,
        settle_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        temporary_suffixes: Iterable[str] = DEFAULT_TEMPORARY_SUFFIXES,
    ) -> list[RemoteFile]:
        """List twice, ``settle_seconds`` apart; keep files whose size and mtime did not move."""
        suffixes = tuple(temporary_suffixes)
        first = self.list_dir(path, suffixes)
        sleep(settle_seconds)
        return unchanged_between(first, self.list_dir(path, suffixes))

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
            try:
                offset = fetch(full, out, offset, total, progress)
            except RemoteFileChanged:
                self._reset(local)
                raise
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
        writer = _OrderedWriter(out.fileno(), offset, total, progress)
        try:
            with self._errors(full), self._read_pipeline(full) as pipeline:
                offset = pipeline.read(offset, total, writer.add)
        finally:
            # On a failure too: what arrived in order is good data, and resumable.
            with self._errors(full):
                offset = writer.close()
        return offset

    @contextlib.contextmanager
    def _read_pipeline(self, full: str) -> Iterator[_ReadPipeline]:
        """``full`` opened for reading, with a :class:`_ReadPipeline` on its handle.

        If the pipeline stopped mid-reply (timeout, lost connection), the SFTP stream is out
        of step and paramiko would misread whatever came next: the session is closed then.
        """
        remote_file: Any = self._client.open(full, "rb")
        pipeline = _ReadPipeline(self._client, bytes(remote_file.handle))
        try:
            yield pipeline
        finally:
            if pipeline.in_step:
                with contextlib.suppress(Exception):
                    remote_file.close()
            else:
                self.close()

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
            fd = out.fileno()
            while (pieces := plan.take()) is not None:
                offset += _write_at(fd, pieces, offset)
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

    def ensure_folder(self, path: str) -> None:
        """Create ``path`` when missing (its parent must exist); a folder another attempt made
        meanwhile is fine."""
        try:
            self.stat(path)
            return
        except RemoteFileNotFound:
            pass
        full = resolve_remote(self.endpoint.root, path)
        try:
            self._client.mkdir(full, mode=0o755)
        except OSError as exc:
            try:
                self.stat(path)
            except RemoteFileNotFound:
                raise RemoteOperationFailed(f"cannot create {path}: {exc}") from exc

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


# SFTP v3 wire constants (draft-ietf-secsh-filexfer-02) that the read pipeline speaks itself.
_FXP_READ = 5
_FXP_STATUS = 101
_FXP_DATA = 103
_FX_EOF = 1
_FX_NO_SUCH_FILE = 2
_FX_PERMISSION_DENIED = 3
_REPLY_HEAD = struct.Struct(">IBII")  # length, type, request id, data length | status code
_READ_HEAD = struct.Struct(">IBI")  # length, SSH_FXP_READ, request id
_READ_RANGE = struct.Struct(">QI")  # offset, length


class _ReadPipeline:
    """Pipelined ``SSH_FXP_READ`` requests on one open handle, replies parsed off the channel.

    paramiko's ``readv`` sends a batch of requests, then waits for every reply before the next
    batch: the server idles at each batch boundary while the client catches up, and each reply
    goes through several Python objects (a message, a prefetch dict, a ``read`` call). Here a
    window of :data:`READ_WINDOW` requests slides: a freed slot is refilled as soon as its
    reply is in (the refills go out :data:`READ_REFILL` to one channel packet), and a reply's
    data is handed on as views into the bytes taken off the channel, without copying.

    Only valid while paramiko has nothing in flight on the same client (``SFTPClient`` is
    synchronous, so between its calls). Request ids come from the client's own counter.
    """

    def __init__(self, client: paramiko.SFTPClient, handle: bytes) -> None:
        self._client = client
        channel: Any = client.sock
        self._channel = channel
        self._pipe: _ChunkedPipe | None = (
            channel.in_buffer if isinstance(channel.in_buffer, _ChunkedPipe) else None
        )
        self._handle = struct.pack(">I", len(handle)) + handle
        self._buf = memoryview(b"")  # the receive chunk being parsed
        self._pos = 0
        self._queued: deque[Piece] = deque()  # chunks received, not yet parsed
        self.in_step = True  # False while a reply is half read (or after a failure in one)

    def read(self, start: int, end: int, sink: Callable[[int, list[Piece]], None]) -> int:
        """Fetch ``[start, end)``; ``sink(offset, pieces)`` gets the data in file order.

        Returns where the data stopped: ``end``, or less when the file ended early. A reply
        shorter than asked (a server capping its reads) is asked again for the rest; a reply
        that arrives ahead of a gap waits until the gap is filled, so ``sink`` never skips.
        """
        client: Any = self._client
        ids = int(client.request_number)
        size = READ_REQUEST_SIZE
        next_offset = start  # next new range to ask for
        written = start  # everything before this went to sink
        retry: deque[tuple[int, int]] = deque()  # rest of short replies, asked again first
        outstanding: dict[int, tuple[int, int]] = {}  # request id -> (offset, length)
        early: dict[int, tuple[int, list[Piece]]] = {}  # offset -> (length, data) past a gap
        stop_at = end  # lowered when the server reports the end of the file
        failure: OSError | None = None
        self.in_step = False
        try:
            while True:
                if failure is None:
                    free = READ_WINDOW - len(outstanding)
                    left = len(retry) + -(-(stop_at - next_offset) // size)
                    # Refill in groups (one packet), or at once when nothing is in flight.
                    due = free >= READ_REFILL or left <= free or not outstanding
                    if due and left > 0 and free > 0:
                        requests: list[bytes] = []
                        for _ in range(min(free, left)):
                            if retry:
                                at, length = retry.popleft()
                            else:
                                at, length = next_offset, min(size, stop_at - next_offset)
                                next_offset += length
                            requests.append(self._request(ids, at, length))
                            outstanding[ids] = (at, length)
                            ids = (ids + 1) & 0xFFFFFFFF
                        self._channel.sendall(b"".join(requests))
                if not outstanding:
                    break
                length, kind, reply_to, word = self._take_head()
                asked = outstanding.pop(reply_to, None)
                if asked is None:
                    raise paramiko.SSHException(f"SFTP reply to a request not sent: {reply_to}")
                at, wanted = asked
                if kind == _FXP_DATA and 0 < word <= wanted and length == 9 + word:
                    data = self._take(word)
                    if word < wanted:
                        retry.append((at + word, wanted - word))
                        if at + wanted < stop_at:  # a server cap, not the end: ask for less
                            size = max(min(size, word), 4096)
                    if at != written:
                        early[at] = (word, data)
                        continue
                    sink(at, data)
                    written += word
                    while written in early:
                        got, data = early.pop(written)
                        sink(written, data)
                        written += got
                elif (kind == _FXP_STATUS and length >= 9) or (kind == _FXP_DATA and length == 9):
                    text = b"".join(self._take(length - 9))
                    if word == _FX_EOF or kind == _FXP_DATA:  # EOF, or (oddly) no data at all
                        stop_at = min(stop_at, at)  # the file is shorter than it was
                        retry = deque(r for r in retry if r[0] < stop_at)
                        next_offset = min(next_offset, stop_at)
                    elif failure is None:
                        failure = _status_error(word, text)
                else:
                    raise paramiko.SSHException(f"malformed SFTP reply (type {kind})")
            if self._pos != len(self._buf) or self._queued:
                raise paramiko.SSHException("unexpected bytes after the last SFTP reply")
            self.in_step = True
        finally:
            client.request_number = ids
        if failure is not None:
            raise failure
        return written

    def _request(self, request_id: int, offset: int, length: int) -> bytes:
        body = self._handle + _READ_RANGE.pack(offset, length)
        return _READ_HEAD.pack(5 + len(body), _FXP_READ, request_id) + body

    def _take_head(self) -> tuple[int, int, int, int]:
        pos = self._pos
        if len(self._buf) - pos >= _REPLY_HEAD.size:
            self._pos = pos + _REPLY_HEAD.size
            head: tuple[int, int, int, int] = _REPLY_HEAD.unpack_from(self._buf, pos)
            return head
        return _REPLY_HEAD.unpack(b"".join(self._take(_REPLY_HEAD.size)))

    def _take(self, count: int) -> list[Piece]:
        """The next ``count`` bytes of the stream, as views into the receive buffers."""
        pieces: list[Piece] = []
        while count:
            pos = self._pos
            ready = len(self._buf) - pos
            if not ready:
                if not self._queued:
                    self._fill(count)
                self._buf = memoryview(self._queued.popleft())
                self._pos = 0
                continue
            step = min(count, ready)
            pieces.append(self._buf[pos : pos + step])
            self._pos = pos + step
            count -= step
        return pieces

    def _fill(self, wanted: int) -> None:
        """Queue what the channel has, waiting first for ``wanted`` bytes (the rest of the
        reply being parsed): one wake-up per reply, not one per SSH packet."""
        if self._pipe is None:
            data = self._channel.recv(RECEIVE_MAX)
            if not data:
                raise EOFError("SFTP channel closed")
            self._queued.append(data)
            return
        try:
            self._pipe.wait_for(min(wanted, RECEIVE_MAX), self._channel.gettimeout())
        except PipeTimeout:
            raise TimeoutError("no SFTP reply in time") from None
        # The received packets themselves, not one joined copy; then the window update that
        # Channel.recv would send.
        chunks = self._pipe.read_chunks(RECEIVE_MAX)
        if not chunks:
            raise EOFError("SFTP channel closed")
        self._queued.extend(chunks)
        ack = self._channel._check_add_window(sum(len(chunk) for chunk in chunks))
        if ack > 0:
            update = paramiko.Message()
            update.add_byte(cMSG_CHANNEL_WINDOW_ADJUST)
            update.add_int(self._channel.remote_chanid)
            update.add_int(ack)
            self._channel.transport._send_user_message(update)


def _status_error(code: int, text: bytes) -> OSError:
    """An SSH_FXP_STATUS failure as the OSError paramiko would raise (mapped by ``_errors``)."""
    (length,) = struct.unpack_from(">I", text) if len(text) >= 4 else (0,)
    message = text[4 : 4 + length].decode("utf-8", "replace")
    if code == _FX_NO_SUCH_FILE:
        return OSError(errno.ENOENT, message or "no such file")
    if code == _FX_PERMISSION_DENIED:
        return OSError(errno.EACCES, message or "permission denied")
    return OSError(errno.EIO, message or f"SFTP status {code}")


def _write_at(fd: int, pieces: Sequence[Piece], offset: int) -> int:
    """Write ``pieces`` back to back at ``offset`` (positional, so no shared file position)."""
    done = 0
    for first in range(0, len(pieces), 512):  # below IOV_MAX
        group = pieces[first : first + 512]
        want = sum(len(piece) for piece in group)
        wrote = os.pwritev(fd, group, offset + done)
        if wrote < want:  # a short write to a regular file is rare: finish it plainly
            rest = memoryview(b"".join(group))[wrote:]
            while rest:
                step = os.pwrite(fd, rest, offset + done + wrote)
                wrote += step
                rest = rest[step:]
        done += want
    return done


class _OrderedWriter:
    """Writes in-order data to the local file from a thread of its own, in large pieces.

    Writing to the page cache can stall (tens of ms for a few MiB on a busy machine); done
    inline it would stop the reader refilling the request window, so the server would idle.
    The file still only grows at its end, so its size is always a resumable offset. Progress
    is reported from the calling thread (an activity heartbeat must come from there) with
    what is already written, and once more by :meth:`close`, after the last write: the local
    file never holds more than the last report said.
    """

    def __init__(self, fd: int, offset: int, total: int, progress: ProgressCallback | None):
        self._fd = fd
        self._written = offset  # bytes in the file; only the writer thread moves it
        self._synced = offset
        self._total = total
        self._progress = progress
        self._pending: list[Piece] = []
        self._pending_bytes = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue[list[Piece] | None] = queue.Queue(WRITE_QUEUE)
        self._thread = threading.Thread(target=self._run, name="sftp-writer", daemon=True)
        self._thread.start()

    def add(self, _at: int, pieces: list[Piece]) -> None:
        self._pending.extend(pieces)
        self._pending_bytes += sum(len(piece) for piece in pieces)
        if self._pending_bytes >= WRITE_COALESCE:
            self._queue.put(self._pending)  # blocks while the writer is WRITE_QUEUE behind
            self._pending = []
            self._pending_bytes = 0
            if self._error is not None:
                raise self._error
            if self._progress is not None:
                self._progress(self._written, self._total)

    def close(self, *, keep_pending: bool = True) -> int:
        """Write what was added (or drop the part not yet handed over), stop the thread,
        report progress; returns the bytes in the file. Raises the writer's error, if any."""
        if self._pending and keep_pending:
            self._queue.put(self._pending)
        self._pending = []
        self._queue.put(None)
        self._thread.join()
        if self._progress is not None:
            self._progress(self._written, self._total)
        if self._error is not None:
            raise self._error
        return self._written

    def _run(self) -> None:
        while (pieces := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep taking, so the reader never blocks on a dead writer
            try:
                self._written += _write_at(self._fd, pieces, self._written)
                if self._written - self._synced >= SYNC_EVERY:
                    os.fdatasync(self._fd)
                    self._synced = self._written
            except BaseException as exc:
                self._error = exc


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
        self._ready: dict[int, list[Piece]] = {}
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

    def deliver(self, index: int, blocks: list[Piece]) -> None:
        with self._cond:
            self._ready[index] = blocks
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = exc
            self._cond.notify_all()

    def take(self) -> list[Piece] | None:
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


def _collect(into: list[Piece], _at: int, pieces: list[Piece]) -> None:
    into.extend(pieces)


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
        with session._errors(full), session._read_pipeline(full) as pipeline:
            while (claim := plan.claim()) is not None:
                index, lo, hi = claim
                pieces: list[Piece] = []
                if pipeline.read(lo, hi, functools.partial(_collect, pieces)) != hi:
                    raise RemoteFileChanged(f"{full} ended early")
                plan.deliver(index, pieces)
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

    def pop_chunks(self, limit: int) -> list[Piece]:
        """Whole received chunks from the front, at least one and about ``limit`` bytes."""
        chunks: list[Piece] = []
        taken = 0
        while self._chunks and (not chunks or taken + len(self._chunks[0]) <= limit):
            chunk: Piece = self._chunks.popleft()
            if self._head:
                chunk = memoryview(chunk)[self._head :]
                self._head = 0
            chunks.append(chunk)
            taken += len(chunk)
        self._size -= taken
        return chunks

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

    # One reader waiting for a whole SFTP reply is woken once, not for each SSH packet of it
    # (each wake-up is a GIL hand-off with the transport thread).
    _wanted = 1

    def feed(self, data: bytes) -> None:
        with self._lock:
            if self._event is not None:
                self._event.set()
            self._buffer.append(bytes(data))
            if len(self._buffer) >= self._wanted:
                self._cv.notify_all()

    def read_chunks(self, limit: int) -> list[Piece]:
        """Like ``read`` without waiting or joining: the buffered chunks, ``[]`` if none."""
        with self._lock:
            chunks = self._buffer.pop_chunks(limit)
            if not self._buffer and self._event is not None and not self._closed:
                self._event.clear()
            return chunks

    def wait_for(self, count: int, timeout: float | None) -> None:
        """Block until ``count`` bytes are buffered or the pipe is closed; PipeTimeout after
        ``timeout`` seconds without getting there."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._wanted = max(1, count)
            try:
                while len(self._buffer) < count and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise PipeTimeout()
                    self._cv.wait(left)
            finally:
                self._wanted = 1


class _BufferedSocket:
    """The transport's socket, read in large pieces and handed out in the small ones asked for.

    paramiko's transport thread reads each SSH packet with two ``recv`` calls (its first block,
    then the rest); each drops and retakes the GIL, a hand-off with the thread reading the file
    data. One ``recv`` of whatever has arrived serves many packets. Everything else is the
    socket's own (``__getattr__``).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, count: int) -> bytes:
        pos = self._pos
        ready = len(self._data) - pos
        if ready == 0:
            data = self._sock.recv(max(count, RECEIVE_SOCKET))
            if len(data) <= count:
                return data
            self._data, self._pos = data, count
            return data[:count]
        step = min(count, ready)
        self._pos = pos + step
        if step == len(self._data):
            return self._data
        return self._data[pos : pos + step]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


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
        _BufferedSocket(sock),
        default_window_size=CHANNEL_WINDOW,
        default_max_packet_size=CHANNEL_MAX_PACKET,
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
            if not transport.is_active():
                # The server went away mid-handshake ("transport shut down or saw EOF"): a
                # restarting server, not a refused key. Retry; do not pause the feed.
                raise SftpConnectionLost(
                    f"{where} closed the connection during authentication"
                ) from exc
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
