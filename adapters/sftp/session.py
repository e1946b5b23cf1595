"""One authenticated SFTP session: listing, downloads (serial or parallel), atomic delivery,
renames, and the mapping of paramiko's failures to :mod:`adapters.sftp.errors`."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import paramiko

from adapters.sftp import tuning
from adapters.sftp.errors import (
    RemoteFileChanged,
    RemoteFileNotFound,
    RemoteOperationFailed,
    RemotePermissionDenied,
    SftpConnectionLost,
    SftpError,
    SftpTimeout,
)
from adapters.sftp.local_writer import OrderedWriter, write_at
from adapters.sftp.parallel import ChunkPlan, range_worker
from adapters.sftp.read_pipeline import ReadPipeline
from adapters.sftp.remote import (
    DownloadResult,
    ProgressCallback,
    RemoteFile,
    SftpEndpoint,
    listed_name,
    resolve_remote,
    unchanged_between,
)
from intake.naming import DEFAULT_TEMPORARY_SUFFIXES, is_temporary_name


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

        A large download is fetched over :data:`tuning.DOWNLOAD_STREAMS` connections, but the local
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
                and tuning.DOWNLOAD_STREAMS > 1
                and total - offset >= tuning.PARALLEL_MIN_BYTES
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
        writer = OrderedWriter(out.fileno(), offset, total, progress)
        try:
            with self._errors(full), self._read_pipeline(full) as pipeline:
                offset = pipeline.read(offset, total, writer.add)
        finally:
            # On a failure too: what arrived in order is good data, and resumable.
            with self._errors(full):
                offset = writer.close()
        return offset

    @contextlib.contextmanager
    def _read_pipeline(self, full: str) -> Iterator[ReadPipeline]:
        """``full`` opened for reading, with a :class:`ReadPipeline` on its handle.

        If the pipeline stopped mid-reply (timeout, lost connection), the SFTP stream is out
        of step and paramiko would misread whatever came next: the session is closed then.
        """
        remote_file: Any = self._client.open(full, "rb")
        pipeline = ReadPipeline(self._client, bytes(remote_file.handle))
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
        plan = ChunkPlan(
            offset, total, tuning.PARALLEL_CHUNK_BYTES, ahead=tuning.DOWNLOAD_STREAMS + 1
        )
        workers = [
            threading.Thread(
                target=range_worker,
                args=(plan, full, self if index == 0 else None, self._opener),
                name=f"sftp-download-{index}",
                daemon=True,
            )
            for index in range(tuning.DOWNLOAD_STREAMS)
        ]
        for worker in workers:
            worker.start()
        try:
            fd = out.fileno()
            while (pieces := plan.take()) is not None:
                offset += write_at(fd, pieces, offset)
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
                    remote_file.MAX_REQUEST_SIZE = tuning.WRITE_REQUEST_SIZE
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
        src = posixpath.join(resolve_remote(self.endpoint.root, folder), listed_name(name))
        dst = resolve_remote(self.endpoint.root, target)
        with self._errors(src):
            self._client.posix_rename(src, dst)

    def exists_listed(self, folder: str, name: str) -> bool:
        full = posixpath.join(resolve_remote(self.endpoint.root, folder), listed_name(name))
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
