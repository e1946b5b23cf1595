"""The receive side of the SSH transport, tuned for bulk reads: the socket read in large
pieces, and a channel buffer that queues received chunks instead of copying them."""

from __future__ import annotations

import socket
import time
from collections import deque
from typing import Any

from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from adapters.sftp import tuning

Piece = bytes | memoryview
"""A run of file bytes as received: a view into a receive buffer, never copied."""


class ChunkedBytes:
    """What :class:`ChunkedPipe` keeps instead of one ``array``: the received strings, queued.

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


class ChunkedPipe(BufferedPipe):  # type: ignore[misc]  # paramiko ships no type hints
    """A channel's receive buffer without paramiko's per-read copying.

    ``BufferedPipe`` appends every packet to an ``array`` and deletes each read from its front,
    which moves everything still buffered: with a large window and a reader that fell a little
    behind, that memmove (under the GIL) was the largest cost of a download. Same locking and
    semantics; only the storage differs. Relies on paramiko 5.1's ``BufferedPipe`` internals
    (``_buffer``, ``_buffer_frombytes``, ``_buffer_tobytes``), which the pinned version fixes.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffer = ChunkedBytes()

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


class BufferedSocket:
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
            data = self._sock.recv(max(count, tuning.RECEIVE_SOCKET))
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
