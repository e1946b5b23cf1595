"""``call_bounded``: every way a child can end comes back as an ``Outcome``, never an exception."""

from __future__ import annotations

import os
import signal
import time

from readers.bounded_call import call_bounded


def _add(a: int, b: int) -> int:
    return a + b


def _raise() -> None:
    raise ValueError("may quote partner data")


def _spin() -> None:
    while True:
        time.sleep(0.01)


def _balloon() -> int:
    chunks = []
    for _ in range(100):
        chunks.append(bytearray(32 * 1024 * 1024))  # touched: resident, not just reserved
        time.sleep(0.01)
    return len(chunks)


def _abort() -> None:
    os.kill(os.getpid(), signal.SIGABRT)


def test_a_returned_value_comes_back() -> None:
    outcome = call_bounded(_add, 2, 3, seconds=10)
    assert outcome.ending == "returned" and outcome.value == 5
    assert outcome.peak_rss_bytes > 0


def test_an_exception_is_named_by_type_and_frame() -> None:
    outcome = call_bounded(_raise, seconds=10)
    assert outcome.ending == "raised" and isinstance(outcome.value, ValueError)
    assert outcome.site.startswith("ValueError at tests/test_bounded_call.py:")


def test_a_loop_is_killed_at_the_deadline() -> None:
    started = time.monotonic()
    outcome = call_bounded(_spin, seconds=1)
    assert outcome.ending == "timeout"
    assert time.monotonic() - started < 5


def test_memory_growth_is_stopped_near_the_limit() -> None:
    limit = 400 * 1024 * 1024
    outcome = call_bounded(_balloon, seconds=30, memory_bytes=limit)
    assert outcome.ending == "memory"
    assert outcome.peak_rss_bytes < limit + 200 * 1024 * 1024  # polled every 10 ms


def test_a_child_killed_by_a_signal_says_which() -> None:
    outcome = call_bounded(_abort, seconds=10)
    assert outcome.ending == "killed" and outcome.signal == signal.SIGABRT
