"""Run one function in a forked child with a deadline and a memory limit.

A reader whose loop we do not own (the ``bai2`` library, pyarrow's CSV reader, pyx12) can spin or
grow without end on a hostile file, and a thread cannot be stopped: a child process can. The child
inherits every module already imported (fork), runs the function and sends the pickled result
back through a pipe; the parent waits at most ``seconds`` and kills it then, or as soon as its
resident memory passes ``memory_bytes`` (polled every few milliseconds from ``/proc``). The limit
is on resident memory, not address space: pyarrow's allocator reserves gigabytes of address space
it never touches, so ``RLIMIT_AS`` refuses its first allocation. Peak memory comes from the
kernel's accounting of that one child (``wait4``), whatever its end.

POSIX only (fork); the CLI and the fuzz harness run on Linux.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

_POLL_SECONDS: Final = 0.01
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")

Ending = Literal["returned", "raised", "timeout", "memory", "killed"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the call ended. ``value`` is the return value (``returned``) or the exception
    (``raised``, when it could be pickled); ``site`` names the exception type and the innermost
    frame (``raised``, ``memory``); ``signal`` the signal that ended the child (``killed``)."""

    ending: Ending
    seconds: float
    peak_rss_bytes: int
    value: Any = None
    site: str = ""
    signal: int | None = None


def _site(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {'/'.join(Path(last.filename).parts[-2:])}:{last.lineno}"


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0  # gone already: wait4 has the last word


def _child(write_fd: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    code = 0
    # A fatal signal in the child is reported by the parent (``killed``), not as a C-level
    # traceback dump on the user's terminal.
    faulthandler.disable()
    try:
        try:
            message: tuple[str, Any, str] = ("returned", fn(*args), "")
        except MemoryError as exc:
            message = ("memory", None, _site(exc))
        except Exception as exc:  # any exception is the caller's to classify
            message = ("raised", exc, _site(exc))
        try:
            payload = pickle.dumps(message)
        except Exception:  # an exception that cannot be pickled still has its site
            payload = pickle.dumps(("raised", None, message[2] or "unpicklable result"))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
    except BaseException:
        code = 70
    finally:
        os._exit(code)  # never run the parent's atexit handlers or finalizers in the child


def call_bounded(
    fn: Callable[..., Any], *args: Any, seconds: float, memory_bytes: int = 0
) -> Outcome:
    """``fn(*args)`` in a child: at most ``seconds`` of wall time and ``memory_bytes`` of
    resident memory (0: no limit). Never raises for what happens inside the child."""
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child leaves through os._exit
        os.close(read_fd)
        _child(write_fd, fn, args)
    os.close(write_fd)
    chunks: list[bytes] = []
    timed_out = over_memory = answered = False
    polled_peak = 0
    try:
        deadline = started + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], min(left, _POLL_SECONDS))
            if memory_bytes:
                rss = _resident_bytes(pid)
                polled_peak = max(polled_peak, rss)
                if rss > memory_bytes:
                    over_memory = True
                    break
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                answered = True
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        if not answered:  # a deadline, the memory limit, or Ctrl-C in the parent
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - started
    peak = max(polled_peak, usage.ru_maxrss * 1024)  # Linux reports KiB
    if timed_out:
        return Outcome("timeout", elapsed, peak)
    if over_memory:
        return Outcome("memory", elapsed, peak, site="resident memory over the limit")
    if os.WIFSIGNALED(status):
        return Outcome("killed", elapsed, peak, signal=os.WTERMSIG(status))
    try:
        # Our own forked child wrote these bytes: nothing else can reach the pipe.
        ending, value, site = pickle.loads(b"".join(chunks))  # noqa: S301
    except Exception:
        # The child died before it could answer (its own limit hit while pickling, say).
        return Outcome("killed", elapsed, peak, site=f"exit status {os.WEXITSTATUS(status)}")
    return Outcome(ending, elapsed, peak, value=value, site=site)
