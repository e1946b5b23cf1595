"""The onboarding stages of one partner and the only moves between them.

    registered ─▶ credentials ─▶ test_exchange ─┬─▶ approvals ─▶ live
                                   ▲   │ failed  │
                                   └───┘         │
    any stage but offboarded ───── offboard ─────┴─▶ offboarded (terminal)

``advance`` is the whole rule; the workflow asks it before every move, so a move that is not
listed here cannot happen, whatever arrives.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    REGISTERED = "registered"
    CREDENTIALS = "credentials"
    TEST_EXCHANGE = "test_exchange"
    APPROVALS = "approvals"
    LIVE = "live"
    OFFBOARDED = "offboarded"


class Step(StrEnum):
    """What happened to a partner's onboarding."""

    REGISTERED = "registered"  # definition validated, partner and feeds recorded
    CREDENTIALS_READY = "credentials_ready"  # SSH key, host key pin, PGP key in place
    TEST_FAILED = "test_failed"  # a test file broke its contract: report sent, try again
    TEST_PASSED = "test_passed"  # every feed's test file passed: acknowledgement sent
    APPROVED = "approved"  # security review and ops sign-off, by two different people
    KEY_ROTATED = "key_rotated"  # live: a new SSH key replaced the old one
    CONTRACT_CHANGED = "contract_changed"  # live: a feed moved to another contract version
    OFFBOARD = "offboard"  # on request, from any stage: schedules gone, keys revoked


class TransitionRefused(ValueError):
    """A step that does not apply to the stage the partner is in."""


_MOVES: dict[tuple[Stage, Step], Stage] = {
    (Stage.REGISTERED, Step.REGISTERED): Stage.CREDENTIALS,
    (Stage.CREDENTIALS, Step.CREDENTIALS_READY): Stage.TEST_EXCHANGE,
    (Stage.TEST_EXCHANGE, Step.TEST_FAILED): Stage.TEST_EXCHANGE,
    (Stage.TEST_EXCHANGE, Step.TEST_PASSED): Stage.APPROVALS,
    (Stage.APPROVALS, Step.APPROVED): Stage.LIVE,
    (Stage.LIVE, Step.KEY_ROTATED): Stage.LIVE,
    (Stage.LIVE, Step.CONTRACT_CHANGED): Stage.LIVE,
}

ORDER: tuple[Stage, ...] = tuple(Stage)


def advance(stage: Stage, step: Step) -> Stage:
    """The stage after ``step``; ``TransitionRefused`` when the step does not apply."""
    if step is Step.OFFBOARD:
        if stage is Stage.OFFBOARDED:
            raise TransitionRefused("the partner is already offboarded")
        return Stage.OFFBOARDED
    try:
        return _MOVES[(stage, step)]
    except KeyError:
        raise TransitionRefused(f"{step.value} does not apply in stage {stage.value}") from None


def allowed_steps(stage: Stage) -> list[Step]:
    """Steps that ``advance`` accepts in ``stage`` (for the checklist and the tests)."""
    steps = [step for (at, step) in _MOVES if at is stage]
    if stage is not Stage.OFFBOARDED:
        steps.append(Step.OFFBOARD)
    return steps
