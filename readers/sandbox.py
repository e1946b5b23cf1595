"""Run a file reader whose loop we do not own in a child process, with a deadline and a memory cap.

A parser written in C++ (pyarrow's CSV reader) or a library that loops on bad input cannot be
stopped from a thread: a thread cannot be killed, and a native abort takes the whole process with
it. Here the reader runs in a child process — forked from a clean, single-threaded server
(``multiprocessing``'s forkserver) when the caller has other threads (a worker: Temporal's core,
pyarrow's pool; a lock one of them holds would be copied locked), forked from the caller itself
when it has none (the CLI) — its address space capped with ``RLIMIT_AS`` and its resident memory
watched; the parent waits with a deadline that grows with the file's size and
kills the child when either runs out.

Resident memory is the limit; ``RLIMIT_AS`` is only a backstop for a spike between two looks,
set ``_ADDRESS_SPACE_HEADROOM`` above the cap and above what the child has already mapped: an
allocator (pyarrow's) reserves gigabytes of address space it never touches, and a tight
``RLIMIT_AS`` refuses its first allocation.

Two ways to call it:

- :func:`call_sandboxed` never raises for what happens in the child: it returns an
  :class:`Outcome` (how it ended, its time, its peak resident memory, the exception's site) — for
  the fuzz harness and ``integrations inspect``, which classify every ending.
- :func:`run_sandboxed` returns the reader's result, re-raises its exception, or raises one of::

    ReaderRefused            the reader was stopped; the file is refused (permanent, never retried)
    ├── ReaderTimedOut       still reading at its deadline
    ├── ReaderOutOfMemory    past its memory cap
    └── ReaderCrashed        the child died without an answer (a signal such as SIGABRT)

The function and its arguments must be picklable (a module-level function, plain data), and so
should its result. Modules named in ``preload`` (and the function's own) are imported once by the
fork server, so a call costs a fork, not an import of pyarrow.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

T = TypeVar("T")

_POLL_SECONDS: Final = 0.02  # how often the parent looks at the child's memory
_HEARTBEAT_SECONDS: Final = 5.0
_MIB: Final = 1 << 20
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")
# Address space beyond the memory cap (and beyond what the child had mapped when it started):
# thread stacks and allocator arenas are reserved, not used.
_ADDRESS_SPACE_HEADROOM: Final = 2 << 30

Ending = Literal["returned", "raised", "timeout", "memory", "killed"]


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
    """How long and how much memory a sandboxed reader gets for one file (from the settings
    ``reader_seconds_base``, ``reader_seconds_per_mb``, ``reader_memory_bytes``)."""

    base_seconds: float = 30.0
    seconds_per_mb: float = 5.0
    memory_bytes: int = 1 << 30
    # The caller's own deadline (what is left of an activity's start-to-close timeout): the
    # reader must be refused before the caller is timed out and retried, or it never ends.
    max_seconds: float | None = None

    def deadline_seconds(self, size: int) -> float:
        """The time budget grows with the file: a legitimately large file takes longer."""
        budget = self.base_seconds + self.seconds_per_mb * size / _MIB
        return budget if self.max_seconds is None else min(budget, self.max_seconds)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one sandboxed call ended. ``value`` is the result (``returned``) or the exception
    (``raised``); ``site`` names the exception's type and innermost frame, never its message
    (it may quote the file); ``signal`` is the signal that ended the child (``killed``)."""

    ending: Ending
    seconds: float
    peak_rss_bytes: int
    value: Any = None
    site: str = ""
    signal: int | None = None
    start_method: str = "forkserver"


def crash_site(exc: BaseException) -> str:
    """``TypeName at package/module.py:line`` of the innermost frame: enough to file a bug,
    and free of the exception's message (it may quote an account number or a name)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {'/'.join(Path(last.filename).parts[-2:])}:{last.lineno}"


_context_lock = threading.Lock()
_preloaded: set[str] = set()
_in_flight = 0  # children running now (guarded by _context_lock)


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown: assume the worst


def _context(modules: Iterable[str]) -> multiprocessing.context.BaseContext:
    """How the child starts. A caller with one OS thread (the CLI) forks: no other thread can
    hold a lock at the fork, and the child has the caller's imports for free. Otherwise (a
    worker: Temporal's core, pyarrow's pool) the forkserver, its server importing ``modules``
    once. A module not yet preloaded restarts the server when no child is running (a worker
    calls with the same few modules, so that is once); otherwise the child imports it itself,
    which is only slower."""
    wanted = list(modules)
    if _os_threads() == 1 and all(name in sys.modules for name in wanted):
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    main = getattr(sys.modules["__main__"], "__file__", None)
    if main and os.path.isfile(main):
        # Each child would otherwise import the program's main module again (the CLI's: all
        # of its commands, seconds); loaded once by the server, a child skips it.
        wanted.append("__main__")
    with _context_lock:
        new = set(wanted) - _preloaded
        server: Any = multiprocessing.forkserver._forkserver
        running = getattr(server, "_forkserver_pid", None) is not None
        if new and not (running and _in_flight > 1):  # the caller counts itself
            _preloaded.update(new)
            context.set_forkserver_preload(sorted(_preloaded))
            if running:  # preloading applies when the server starts
                server._stop()
    return context


@contextlib.contextmanager
def _counted() -> Iterator[None]:
    global _in_flight
    with _context_lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _context_lock:
            _in_flight -= 1


def _child(
    connection: Connection,
    memory_bytes: int,
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    # A fatal signal is reported by the parent (``killed``), not dumped on a terminal.
    import faulthandler

    faulthandler.disable()
    # The backstop for an allocation spike between two looks by the parent: malloc fails,
    # which Python and Arrow raise as MemoryError.
    limit = memory_bytes + _ADDRESS_SPACE_HEADROOM + _virtual_bytes(os.getpid())
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    message: tuple[str, Any, str]
    try:
        message = ("returned", function(*args), "")
    except MemoryError as exc:
        message = ("memory", None, crash_site(exc))
    except BaseException as exc:  # the reader's own exception goes back to the caller
        message = ("raised", exc, crash_site(exc))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    try:
        connection.send((*message, peak))
    except Exception as exc:  # an exception or result that cannot be pickled
        error = RuntimeError(f"{type(exc).__name__} sending the result")
        connection.send(("raised", error, message[2] or "unpicklable result", peak))
    connection.close()
    # Skip interpreter teardown: a native reader thread still running then aborts the process.
    os._exit(0)


def _statm(pid: int, field: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[field]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0  # gone already


def _virtual_bytes(pid: int) -> int:
    return _statm(pid, 0)


def _resident_bytes(pid: int) -> int:
    return _statm(pid, 1)


def call_sandboxed(
    function: Callable[..., Any],
    *args: Any,
    size: int,
    limits: SandboxLimits,
    heartbeat: Callable[[], None] | None = None,
    preload: Iterable[str] = (),
) -> Outcome:
    """``function(*args)`` in a child process; how it ended, never an exception for what the
    child did. ``size`` (the file's bytes) sets the deadline; ``heartbeat`` is called every few
    seconds while waiting (a Temporal activity's heartbeat)."""
    deadline_seconds = limits.deadline_seconds(size)
    # A functools.partial (keyword arguments) names its function's module through .func.
    module = getattr(function, "func", function).__module__
    with _counted():
        context = _context([module, *preload])
        start_method = context.get_start_method()
        receive, send = context.Pipe(duplex=False)
        process = context.Process(  # type: ignore[attr-defined]
            target=_child, args=(send, limits.memory_bytes, function, args), daemon=True
        )
        started = time.monotonic()
        process.start()
        send.close()
        beat = started
        ending: Ending | None = None
        message: tuple[Ending, Any, str, int] | None = None
        polled_peak = 0
        try:
            while True:
                ready = wait([receive, process.sentinel], timeout=_POLL_SECONDS)
                if receive in ready:
                    with contextlib.suppress(EOFError):
                        message = receive.recv()
                    break
                if ready:  # the child exited without sending anything
                    break
                now = time.monotonic()
                if now - started > deadline_seconds:
                    ending = "timeout"
                    break
                rss = _resident_bytes(process.pid)
                polled_peak = max(polled_peak, rss)
                if rss > limits.memory_bytes:
                    ending = "memory"
                    break
                if heartbeat is not None and now - beat >= _HEARTBEAT_SECONDS:
                    heartbeat()
                    beat = now
        finally:
            if process.is_alive() and message is None:
                process.kill()
            process.join(timeout=10)
            receive.close()
        elapsed = time.monotonic() - started
        if ending is not None:
            site = "resident memory over the limit" if ending == "memory" else ""
            return Outcome(ending, elapsed, polled_peak, site=site, start_method=start_method)
        if message is None:
            code = process.exitcode
            if code is not None and code < 0:
                return Outcome(
                    "killed", elapsed, polled_peak, signal=-code, start_method=start_method
                )
            why = f"exit status {code}, no answer"
            return Outcome("killed", elapsed, polled_peak, site=why, start_method=start_method)
        kind, value, site, peak = message
        peak = max(peak, polled_peak)
        return Outcome(kind, elapsed, peak, value=value, site=site, start_method=start_method)


def run_sandboxed(
    function: Callable[..., T],
    *args: Any,
    size: int,
    limits: SandboxLimits,
    heartbeat: Callable[[], None] | None = None,
    preload: Iterable[str] = (),
) -> T:
    """``function(*args)`` in a child process: its result, its exception re-raised, or a
    :class:`ReaderRefused` naming the limit it hit."""
    outcome = call_sandboxed(
        function, *args, size=size, limits=limits, heartbeat=heartbeat, preload=preload
    )
    if outcome.ending == "returned":
        result: T = outcome.value
        return result
    if outcome.ending == "raised":
        raise outcome.value
    raise refusal(outcome, limits, size)


def refusal(outcome: Outcome, limits: SandboxLimits, size: int) -> ReaderRefused:
    """The typed refusal for a call that did not answer (timeout, memory, killed)."""
    if outcome.ending == "timeout":
        budget = limits.deadline_seconds(size)
        return ReaderTimedOut(
            f"reading took longer than {budget:.0f} s, the budget for {size:,} bytes"
        )
    if outcome.ending == "memory":
        return ReaderOutOfMemory(
            f"reading needed more than {limits.memory_bytes // _MIB:,} MiB of memory, the limit"
        )
    if outcome.signal is not None:
        number = outcome.signal
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        return ReaderCrashed(f"the reader stopped with signal {name}")
    return ReaderCrashed(f"the reader stopped: {outcome.site or 'no answer'}")


__all__ = [
    "Outcome",
    "ReaderCrashed",
    "ReaderOutOfMemory",
    "ReaderRefused",
    "ReaderTimedOut",
    "SandboxLimits",
    "call_sandboxed",
    "crash_site",
    "refusal",
    "run_sandboxed",
]
