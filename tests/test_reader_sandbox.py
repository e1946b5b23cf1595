"""The reader sandbox: a function on a file in a child process, stopped at its deadline or its
memory cap, answering with the function's result, its exception, or a typed refusal
(``run_sandboxed``) — or, for callers that classify every ending, an ``Outcome`` that never
raises (``call_sandboxed``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from readers.sandbox import (
    ReaderCrashed,
    ReaderOutOfMemory,
    ReaderTimedOut,
    SandboxLimits,
    call_sandboxed,
    run_sandboxed,
)

QUICK = SandboxLimits(base_seconds=30, seconds_per_mb=0, memory_bytes=400 << 20)


# The functions run in the child, so they live at module level (picklable by name).
def _double(value: int) -> int:
    return value * 2


def _sleep_then_double(value: int) -> int:
    time.sleep(2)
    return value * 2


def _pid() -> int:
    return os.getpid()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _grow_forever() -> None:
    hoard = []
    while True:
        hoard.append(bytearray(16 << 20))  # touched pages: resident, not only reserved


def _allocate_at_once() -> None:
    bytearray(8 << 30)  # one allocation past the address-space backstop


def _abort() -> None:
    os.abort()


def _refuse(reason: str) -> None:
    raise ValueError(reason)


def _import_pyarrow_and_read() -> int:
    # pyarrow's allocator reserves far more address space than it uses: the RLIMIT_AS
    # backstop must not refuse its first allocation.
    import pyarrow as pa
    import pyarrow.csv

    table = pyarrow.csv.read_csv(pa.BufferReader(b"a,b\n1,2\n3,4\n"))
    return int(table.num_rows)


def test_the_result_comes_back_from_another_process() -> None:
    assert run_sandboxed(_double, 21, size=0, limits=QUICK) == 42
    assert run_sandboxed(_pid, size=0, limits=QUICK) != os.getpid()


def test_the_reader_s_own_exception_is_raised_as_it_was() -> None:
    with pytest.raises(ValueError, match="not a CSV file"):
        run_sandboxed(_refuse, "not a CSV file", size=0, limits=QUICK)


def test_a_reader_past_its_deadline_is_stopped() -> None:
    limits = SandboxLimits(base_seconds=1, seconds_per_mb=0, memory_bytes=400 << 20)
    started = time.monotonic()
    with pytest.raises(ReaderTimedOut, match="longer than 1 s"):
        run_sandboxed(_sleep, 60, size=0, limits=limits)
    assert time.monotonic() - started < 15  # killed, not waited for


def test_the_deadline_grows_with_the_file_and_stops_at_the_caller_s() -> None:
    limits = SandboxLimits(base_seconds=10, seconds_per_mb=2)
    assert limits.deadline_seconds(0) == 10
    assert limits.deadline_seconds(50 << 20) == 110
    assert SandboxLimits(base_seconds=10, seconds_per_mb=2, max_seconds=30).deadline_seconds(
        50 << 20
    ) == pytest.approx(30)


def test_a_reader_that_keeps_growing_is_stopped_at_its_memory_cap() -> None:
    with pytest.raises(ReaderOutOfMemory, match="400 MiB"):
        run_sandboxed(_grow_forever, size=0, limits=QUICK)


def test_an_allocation_past_the_address_space_limit_is_out_of_memory() -> None:
    with pytest.raises(ReaderOutOfMemory):
        run_sandboxed(_allocate_at_once, size=0, limits=QUICK)


def test_a_native_abort_is_a_crash_and_the_caller_carries_on() -> None:
    with pytest.raises(ReaderCrashed, match="SIGABRT"):
        run_sandboxed(_abort, size=0, limits=QUICK)
    assert run_sandboxed(_double, 2, size=0, limits=QUICK) == 4


def test_heartbeats_are_sent_while_waiting() -> None:
    beats: list[float] = []
    run_sandboxed(_sleep, 6, size=0, limits=QUICK, heartbeat=lambda: beats.append(1.0))
    assert beats  # a Temporal activity's heartbeat timeout is not hit while a reader works


# --- call_sandboxed: every ending is an Outcome, never an exception ---------------------------


def test_an_outcome_carries_the_value_and_the_child_s_peak_memory() -> None:
    outcome = call_sandboxed(_double, 21, size=0, limits=QUICK)
    assert outcome.ending == "returned" and outcome.value == 42
    assert outcome.start_method == "forkserver"  # this test process has other threads
    assert outcome.peak_rss_bytes > 0


def test_an_exception_is_named_by_type_and_frame_not_by_its_message() -> None:
    outcome = call_sandboxed(_refuse, "may quote partner data", size=0, limits=QUICK)
    assert outcome.ending == "raised" and isinstance(outcome.value, ValueError)
    assert outcome.site.startswith("ValueError at tests/test_reader_sandbox.py:")
    assert "partner" not in outcome.site


def test_memory_growth_is_stopped_near_the_cap() -> None:
    outcome = call_sandboxed(_grow_forever, size=0, limits=QUICK)
    assert outcome.ending == "memory"
    assert outcome.peak_rss_bytes < QUICK.memory_bytes + (200 << 20)  # polled every 20 ms


def test_a_child_killed_by_a_signal_says_which() -> None:
    outcome = call_sandboxed(_abort, size=0, limits=QUICK)
    assert outcome.ending == "killed" and outcome.signal == signal.SIGABRT


def test_pyarrow_reads_under_the_address_space_backstop() -> None:
    assert run_sandboxed(_import_pyarrow_and_read, size=0, limits=QUICK) == 2


def test_a_module_first_asked_for_while_a_reader_runs_does_not_disturb_it() -> None:
    """Preloading a new module restarts the fork server only when no child is running."""
    with ThreadPoolExecutor(1) as threads:
        slow = threads.submit(run_sandboxed, _sleep_then_double, 21, size=0, limits=QUICK)
        time.sleep(0.5)
        assert run_sandboxed(_double, 2, size=0, limits=QUICK, preload=("colorsys",)) == 4
        assert slow.result(timeout=30) == 42
    assert run_sandboxed(_double, 3, size=0, limits=QUICK, preload=("colorsys",)) == 6


_SINGLE_THREADED = """
import os, time
from readers.sandbox import SandboxLimits, call_sandboxed
limits = SandboxLimits(base_seconds=1, seconds_per_mb=0, memory_bytes=300 << 20)
for name, function, args in [
    ("pid", os.getpid, ()),
    ("abort", os.abort, ()),
    ("sleep", time.sleep, (30,)),
    ("huge", bytearray, (8 << 30,)),
]:
    o = call_sandboxed(function, *args, size=0, limits=limits)
    print(name, o.start_method, o.ending, o.signal, o.value == os.getpid())
"""


def test_a_caller_with_one_thread_forks_itself_with_the_same_limits() -> None:
    """The CLI's case: no other thread, so a plain fork (no server to start, the caller's
    imports for free), the same deadline, memory cap and typed endings."""
    done = subprocess.run(
        [sys.executable, "-c", _SINGLE_THREADED],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "pid fork returned None False",
        f"abort fork killed {int(signal.SIGABRT)} False",
        "sleep fork timeout None False",
        "huge fork memory None False",
    ]
