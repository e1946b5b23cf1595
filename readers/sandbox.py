"""Run a file reader whose loop we do not own in a child process, with a deadline and a memory cap.

A parser written in C++ (pyarrow's CSV reader) or a library that loops on bad input (the ``bai2``
library) cannot be stopped from a thread: a thread cannot be killed, and a native abort takes the
whole worker with it. Here the reader runs in a child process forked from a clean, single-threaded
server (``multiprocessing``'s forkserver: the worker's own threads never fork), its address space
capped with ``RLIMIT_AS`` and its resident memory watched; the parent waits with a deadline that
grows with the file's size and kills the child when either runs out. Whatever happens, the caller
gets the reader's own result or exception, or one of these typed refusals::

    ReaderRefused            the reader was stopped; the file is refused (permanent, never retried)
    ├── ReaderTimedOut       still reading at its deadline
    ├── ReaderOutOfMemory    past its memory cap
    └── ReaderCrashed        the child died without an answer (a signal such as SIGABRT)

The function and its arguments must be picklable (a module-level function, plain data), and so
must its result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Final, TypeVar

T = TypeVar("T")

_POLL_SECONDS: Final = 0.05  # how often the parent looks at the child's memory
_HEARTBEAT_SECONDS: Final = 5.0
_MIB: Final = 1 << 20
# Address space beyond the memory cap: thread stacks and allocator arenas are reserved, not used,
# so the hard RLIMIT_AS backstop sits above the resident-memory cap the watchdog enforces.
_ADDRESS_SPACE_HEADROOM: Final = 2 << 30


class ReaderRefused(Exception):
    """The reader was stopped before it answered; ``reason`` is one line a partner can read."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ReaderTimedOut(ReaderRefused):
    """The reader was still working at its deadline."""


class ReaderOutOfMemory(ReaderRefused):
    """The reader needed more memory than it is allowed."""


class ReaderCrashed(ReaderRefused):
    """The child process died without an answer."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """How long and how much memory a sandboxed reader gets for one file."""

    base_seconds: float = 30.0
    seconds_per_mb: float = 2.0
    memory_bytes: int = 1 << 30
    # The caller's own deadline (what is left of an activity's start-to-close timeout): the
    # reader must be refused before the caller is timed out and retried, or it never ends.
    max_seconds: float | None = None

    def deadline_seconds(self, size: int) -> float:
        """The time budget grows with the file: a legitimately large file takes longer."""
        budget = self.base_seconds + self.seconds_per_mb * size / _MIB
        return budget if self.max_seconds is None else min(budget, self.max_seconds)


_context_lock = threading.Lock()
_preloaded: set[str] = set()


def _context(module: str) -> multiprocessing.context.BaseContext:
    # The forkserver imports the reader's module once, so each file costs a fork, not an
    # interpreter start and a pyarrow import.
    context = multiprocessing.get_context("forkserver")
    with _context_lock:
        if module not in _preloaded:
            _preloaded.add(module)
            context.set_forkserver_preload(sorted(_preloaded))
    return context


def _child(
    connection: Connection,
    memory_bytes: int,
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    # The backstop for an allocation spike between two looks by the parent: malloc fails,
    # which Python and Arrow raise as MemoryError.
    limit = memory_bytes + _ADDRESS_SPACE_HEADROOM
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        outcome: tuple[str, Any] = ("ok", function(*args))
    except MemoryError:
        outcome = ("oom", None)
    except BaseException as exc:  # the reader's own exception goes back to the caller
        outcome = ("raised", exc)
    try:
        connection.send(outcome)
    except Exception as exc:  # an exception or result that cannot be pickled
        connection.send(("raised", RuntimeError(f"{type(exc).__name__} sending the result")))
    connection.close()
    # Skip interpreter teardown: a native reader thread still running then aborts the process.
    os._exit(0)


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def run_sandboxed(
    function: Callable[..., T],
    *args: Any,
    size: int,
    limits: SandboxLimits,
    heartbeat: Callable[[], None] | None = None,
) -> T:
    """``function(*args)`` in a child process; its result, its exception re-raised, or a
    :class:`ReaderRefused`. ``size`` (the file's bytes) sets the deadline; ``heartbeat`` is
    called every few seconds while waiting (a Temporal activity's heartbeat)."""
    deadline_seconds = limits.deadline_seconds(size)
    # A functools.partial (keyword arguments) names its function's module through .func.
    context = _context(getattr(function, "func", function).__module__)
    receive, send = context.Pipe(duplex=False)
    process = context.Process(  # type: ignore[attr-defined]
        target=_child, args=(send, limits.memory_bytes, function, args), daemon=True
    )
    process.start()
    send.close()
    started = time.monotonic()
    beat = started
    refusal: ReaderRefused | None = None
    outcome: tuple[str, Any] | None = None
    try:
        while True:
            ready = wait([receive, process.sentinel], timeout=_POLL_SECONDS)
            if receive in ready:
                try:
                    outcome = receive.recv()
                except EOFError:
                    outcome = None
                break
            if ready:  # the child exited without sending anything
                break
            now = time.monotonic()
            if now - started > deadline_seconds:
                refusal = ReaderTimedOut(
                    f"reading took longer than {deadline_seconds:.0f} s, the budget for "
                    f"{size:,} bytes"
                )
                break
            if _resident_bytes(process.pid) > limits.memory_bytes:
                refusal = _out_of_memory(limits)
                break
            if heartbeat is not None and now - beat >= _HEARTBEAT_SECONDS:
                heartbeat()
                beat = now
    finally:
        if process.is_alive() and outcome is None:
            process.kill()
        process.join(timeout=10)
        receive.close()
    if refusal is not None:
        raise refusal
    if outcome is None:
        code = process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            raise ReaderCrashed(f"the reader stopped with signal {name}")
        raise ReaderCrashed(f"the reader stopped with exit code {code} and no answer")
    kind, value = outcome
    if kind == "oom":
        raise _out_of_memory(limits)
    if kind == "raised":
        raise value
    result: T = value
    return result


def _out_of_memory(limits: SandboxLimits) -> ReaderOutOfMemory:
    return ReaderOutOfMemory(
        f"reading needed more than {limits.memory_bytes // _MIB:,} MiB of memory, the limit"
    )


__all__ = [
    "ReaderCrashed",
    "ReaderOutOfMemory",
    "ReaderRefused",
    "ReaderTimedOut",
    "SandboxLimits",
    "run_sandboxed",
]
