"""One download spread over several SFTP connections, appended strictly in order."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.sftp.errors import RemoteFileChanged
from adapters.sftp.transport import Piece

if TYPE_CHECKING:
    from adapters.sftp.session import SftpSession


class ChunkPlan:
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


def range_worker(
    plan: ChunkPlan,
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
