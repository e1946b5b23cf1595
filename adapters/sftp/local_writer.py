"""The local side of a download: in-order data appended to the file from a writer thread."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence

from adapters.sftp import tuning
from adapters.sftp.remote import ProgressCallback
from adapters.sftp.transport import Piece


def write_at(fd: int, pieces: Sequence[Piece], offset: int) -> int:
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


class OrderedWriter:
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
        self._queue: queue.Queue[list[Piece] | None] = queue.Queue(tuning.WRITE_QUEUE)
        self._thread = threading.Thread(target=self._run, name="sftp-writer", daemon=True)
        self._thread.start()

    def add(self, _at: int, pieces: list[Piece]) -> None:
        self._pending.extend(pieces)
        self._pending_bytes += sum(len(piece) for piece in pieces)
        if self._pending_bytes >= tuning.WRITE_COALESCE:
            self._queue.put(self._pending)  # blocks while the writer is tuning.WRITE_QUEUE behind
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
                self._written += write_at(self._fd, pieces, self._written)
                if self._written - self._synced >= tuning.SYNC_EVERY:
                    os.fdatasync(self._fd)
                    self._synced = self._written
            except BaseException as exc:
                self._error = exc
