"""The ACH return state machine, by example and by property (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ach_returns.banking_days import add_banking_days, is_banking_day, next_banking_day
from ach_returns.state_machine import (
    MAX_REPRESENTMENTS,
    TERMINAL,
    ApproveRepresentment,
    BlockAccount,
    CaseState,
    DeadlineReached,
    Event,
    NocNotice,
    OriginalEntry,
    ProvideCorrection,
    Represent,
    RepresentmentSent,
    ReturnCase,
    ReturnNotice,
    WriteOff,
    decide,
    refusal,
    routing_check_digit_ok,
)

SETTLED = date(2026, 3, 2)
ORIGINAL = OriginalEntry(
    trace_number="091000010000001",
    amount_cents=12_345,
    settlement_date=SETTLED,
    effective_date=SETTLED,
    transaction_code=27,
    sec_code="PPD",
    routing_number="091000019",
    account_last4="6789",
)


def _case(original: OriginalEntry | None = ORIGINAL) -> ReturnCase:
    return ReturnCase(trace_number="091000010000001", partner_id="bank", original=original)


def _ret(code: str, on: date = SETTLED + timedelta(days=2), n: int = 1) -> ReturnNotice:
    return ReturnNotice(notice_id=f"r{n}-{code}", code=code, received_on=on)


def test_banking_days_skip_weekends_and_fed_holidays() -> None:
    assert not is_banking_day(date(2026, 11, 26))  # Thanksgiving
    assert not is_banking_day(date(2026, 11, 28))  # Saturday
    assert next_banking_day(date(2026, 11, 26)) == date(2026, 11, 27)
    assert add_banking_days(date(2026, 12, 24), 1) == date(2026, 12, 28)  # over Christmas
    assert add_banking_days(date(2026, 3, 2), 0) == date(2026, 3, 2)


def test_routing_check_digit() -> None:
    assert routing_check_digit_ok("091000019")
    assert routing_check_digit_ok("021000021")
    assert not routing_check_digit_ok("091000018")
    assert not routing_check_digit_ok("09100001")


def test_r01_needs_approval_then_represents_on_a_banking_day_at_most_twice() -> None:
    case, commands = decide(_case(), _ret("R01"), SETTLED)
    assert case.state == CaseState.REPRESENTMENT_PENDING
    assert case.deadline == SETTLED + timedelta(days=180)
    approve = ApproveRepresentment(actor="ops:ann", reason="customer funded")
    friday = date(2026, 3, 6)
    case, commands = decide(case, approve, friday)
    (represent,) = [c for c in commands if isinstance(c, Represent)]
    assert represent.number == 1 and represent.effective_date == date(2026, 3, 9)  # Monday
    case, _ = decide(
        case,
        RepresentmentSent(number=1, effective_date=date(2026, 3, 9), trace_number="t1"),
        friday,
    )
    assert case.state == CaseState.REPRESENTED and case.representments == 1
    case, _ = decide(case, _ret("R09", date(2026, 3, 11), n=2), date(2026, 3, 11))
    assert case.state == CaseState.REPRESENTMENT_PENDING
    case, _ = decide(case, approve, date(2026, 3, 12))
    case, _ = decide(
        case,
        RepresentmentSent(number=2, effective_date=date(2026, 3, 13), trace_number="t2"),
        date(2026, 3, 12),
    )
    case, commands = decide(case, _ret("R01", date(2026, 3, 17), n=3), date(2026, 3, 17))
    assert case.state == CaseState.EXCEPTION
    assert "after 2 re-presentments" in (case.exception_reason or "")
    assert not any(isinstance(c, Represent) for c in commands)


def test_represented_entry_not_returned_is_collected() -> None:
    case, _ = decide(_case(), _ret("R01"), SETTLED)
    case, _ = decide(case, ApproveRepresentment(actor="a", reason="r"), SETTLED)
    case, _ = decide(
        case,
        RepresentmentSent(number=1, effective_date=date(2026, 3, 3), trace_number="t"),
        SETTLED,
    )
    assert case.deadline_kind == "return_watch"
    case, _ = decide(
        case, DeadlineReached(deadline_kind="return_watch", on=case.deadline or SETTLED), SETTLED
    )
    assert case.state == CaseState.COLLECTED


def test_unauthorized_stops_and_blocks() -> None:
    for code in ("R05", "R07", "R10", "R11", "R29", "R51"):
        case, commands = decide(_case(), _ret(code), SETTLED)
        assert case.state == CaseState.STOPPED
        assert any(isinstance(c, BlockAccount) for c in commands)
        assert refusal(case, ApproveRepresentment(actor="a", reason="r"), SETTLED)


def test_account_level_waits_escalates_then_excepts() -> None:
    case, _ = decide(_case(), _ret("R03", date(2026, 3, 4)), SETTLED)
    assert case.state == CaseState.AWAITING_CORRECTION
    first = case.deadline
    assert first == add_banking_days(date(2026, 3, 4), 5)
    case, commands = decide(
        case, DeadlineReached(deadline_kind="correction", on=first or SETTLED), SETTLED
    )
    assert case.escalated and [c.kind for c in commands] == ["escalate"]
    case, _ = decide(
        case, DeadlineReached(deadline_kind="correction", on=case.deadline or SETTLED), SETTLED
    )
    assert case.state == CaseState.EXCEPTION


def test_correction_with_bad_routing_is_refused_and_good_one_applies() -> None:
    case, _ = decide(_case(), _ret("R04"), SETTLED)
    bad = ProvideCorrection(
        actor="ops:bo", reason="bank letter", routing_number="091000018", account_number="12345"
    )
    assert "check digit" in (refusal(case, bad, SETTLED) or "")
    assert decide(case, bad, SETTLED)[0] == case
    good = bad.model_copy(update={"routing_number": "091000019"})
    case, commands = decide(case, good, SETTLED)
    assert case.state == CaseState.CORRECTED
    assert commands[0].kind == "apply_correction"


def test_no_original_or_late_return_is_an_exception() -> None:
    case, _ = decide(_case(original=None), _ret("R01"), SETTLED)
    assert case.state == CaseState.EXCEPTION
    late = _ret("R01").model_copy(update={"within_time_limit": False})
    assert decide(_case(), late, SETTLED)[0].state == CaseState.EXCEPTION
    assert decide(_case(), _ret("R01", SETTLED + timedelta(days=181)), SETTLED)[0].state == (
        CaseState.EXCEPTION
    )


def test_noc_applies_within_six_banking_days_and_refused_noc_is_logged() -> None:
    noc = NocNotice(
        notice_id="n1",
        code="C01",
        received_on=date(2026, 3, 5),
        corrected={"account_number": "987654321"},
    )
    case, commands = decide(_case(), noc, SETTLED)
    assert case.state == CaseState.NOC_APPLIED
    assert commands[0].kind == "apply_correction"
    assert commands[0].due == add_banking_days(date(2026, 3, 5), 6)
    refused = NocNotice(notice_id="n2", code="C61", received_on=SETTLED, refused=True)
    case, commands = decide(_case(), refused, SETTLED)
    assert case.state == CaseState.NOC_REFUSED and commands[0].kind == "notify"


# --- properties ---------------------------------------------------------------------------------

CODES = ["R01", "R09", "R02", "R03", "R05", "R10", "R29", "R62", "R71", "R16", "R99"]


@st.composite
def events(draw: st.DrawFn) -> tuple[Event, date]:
    day = SETTLED + timedelta(days=draw(st.integers(0, 400)))
    kind = draw(
        st.sampled_from(["return", "noc", "approve", "correct", "write_off", "deadline", "sent"])
    )
    event: Event
    if kind == "return":
        event = ReturnNotice(
            notice_id=f"r{draw(st.integers(0, 6))}",
            code=draw(st.sampled_from(CODES)),
            received_on=day,
            within_time_limit=draw(st.booleans()),
        )
    elif kind == "noc":
        event = NocNotice(
            notice_id=f"n{draw(st.integers(0, 3))}",
            code="C01",
            received_on=day,
            refused=draw(st.booleans()),
        )
    elif kind == "approve":
        event = ApproveRepresentment(actor="ops", reason="ok")
    elif kind == "correct":
        event = ProvideCorrection(
            actor="ops",
            reason="ok",
            routing_number=draw(st.sampled_from(["091000019", "123456789"])),
            account_number="42",
        )
    elif kind == "write_off":
        event = WriteOff(actor="ops", reason="uncollectable")
    elif kind == "deadline":
        event = DeadlineReached(
            deadline_kind=draw(
                st.sampled_from(["representment_window", "correction", "review", "return_watch"])
            ),
            on=day,
        )
    else:
        event = RepresentmentSent(
            number=draw(st.integers(1, 3)), effective_date=next_banking_day(day), trace_number="t"
        )
    return event, day


@settings(max_examples=300, deadline=None)
@given(st.lists(events(), max_size=25))
def test_invariants_hold_for_any_sequence(sequence: list[tuple[Event, date]]) -> None:
    case = _case()
    represents = 0
    for event, day in sequence:
        before = case
        case, commands = decide(case, event, day)
        for command in commands:
            if isinstance(command, Represent):
                represents += 1
                # Never more than twice, never on a non-banking day, never after the window,
                # never for an unauthorized (stopped) entry.
                assert command.number <= MAX_REPRESENTMENTS
                assert is_banking_day(command.effective_date)
                assert before.state == CaseState.REPRESENTMENT_PENDING
                assert day <= SETTLED + timedelta(days=180)
        if before.state in TERMINAL and before.state != CaseState.NOC_APPLIED:
            assert case.state == before.state  # closed cases stay closed
        if before.state == CaseState.STOPPED:
            assert not any(isinstance(c, Represent) for c in commands)
        # The same notice twice changes nothing the second time.
        if isinstance(event, ReturnNotice | NocNotice):
            again, repeat_commands = decide(case, event, day)
            assert again == case and repeat_commands == []
    assert case.representments <= MAX_REPRESENTMENTS
