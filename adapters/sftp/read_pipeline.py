"""Pipelined ``SSH_FXP_READ`` requests on one open remote handle (the download's hot path)."""

from __future__ import annotations

import errno
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

import paramiko
from paramiko.buffered_pipe import PipeTimeout
from paramiko.common import cMSG_CHANNEL_WINDOW_ADJUST

from adapters.sftp import tuning
from adapters.sftp.transport import ChunkedPipe, Piece

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


class ReadPipeline:
    """Pipelined ``SSH_FXP_READ`` requests on one open handle, replies parsed off the channel.

    paramiko's ``readv`` sends a batch of requests, then waits for every reply before the next
    batch: the server idles at each batch boundary while the client catches up, and each reply
    goes through several Python objects (a message, a prefetch dict, a ``read`` call). Here a
    window of :data:`tuning.READ_WINDOW` requests slides: a freed slot is refilled as soon as its
    reply is in (the refills go out :data:`tuning.READ_REFILL` to one channel packet), and a reply's
    data is handed on as views into the bytes taken off the channel, without copying.

    Only valid while paramiko has nothing in flight on the same client (``SFTPClient`` is
    synchronous, so between its calls). Request ids come from the client's own counter.
    """

    def __init__(self, client: paramiko.SFTPClient, handle: bytes) -> None:
        self._client = client
        channel: Any = client.sock
        self._channel = channel
        self._pipe: ChunkedPipe | None = (
            channel.in_buffer if isinstance(channel.in_buffer, ChunkedPipe) else None
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
        size = tuning.READ_REQUEST_SIZE
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
                    free = tuning.READ_WINDOW - len(outstanding)
                    left = len(retry) + -(-(stop_at - next_offset) // size)
                    # Refill in groups (one packet), or at once when nothing is in flight.
                    due = free >= tuning.READ_REFILL or left <= free or not outstanding
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
            data = self._channel.recv(tuning.RECEIVE_MAX)
            if not data:
                raise EOFError("SFTP channel closed")
            self._queued.append(data)
            return
        try:
            self._pipe.wait_for(min(wanted, tuning.RECEIVE_MAX), self._channel.gettimeout())
        except PipeTimeout:
            raise TimeoutError("no SFTP reply in time") from None
        # The received packets themselves, not one joined copy; then the window update that
        # Channel.recv would send.
        chunks = self._pipe.read_chunks(tuning.RECEIVE_MAX)
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
