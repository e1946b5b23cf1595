"""The pure core of onboarding: stage machine, four-eyes approvals, rotation calendar and the
file-contract compatibility rule, property-tested with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.file_contract import load_contract_text
from onboarding import approvals, contract_change, rotation
from onboarding.approvals import ApprovalKind
from onboarding.stages import ORDER, Stage, Step, TransitionRefused, advance, allowed_steps

V1 = (Path(__file__).resolve().parents[1] / "file_contracts" / "acme_customers.v1.toml").read_text()


@given(st.lists(st.sampled_from(list(Step)), max_size=40))
def test_stages_only_move_forward_and_offboarded_is_final(steps: list[Step]) -> None:
    stage = Stage.REGISTERED
    for step in steps:
        try:
            after = advance(stage, step)
        except TransitionRefused:
            assert step not in allowed_steps(stage)
            continue
        assert step in allowed_steps(stage)
        assert ORDER.index(after) >= ORDER.index(stage)  # never backwards
        if stage is Stage.OFFBOARDED:
            pytest.fail("offboarded accepted a step")
        if after is Stage.LIVE and stage is not Stage.LIVE:
            assert step is Step.APPROVED  # live only through the approvals
        stage = after
    with pytest.raises(TransitionRefused):
        advance(Stage.OFFBOARDED, Step.OFFBOARD)


def test_the_happy_path() -> None:
    stage = Stage.REGISTERED
    for step in (
        Step.REGISTERED,
        Step.CREDENTIALS_READY,
        Step.TEST_FAILED,
        Step.TEST_PASSED,
        Step.APPROVED,
        Step.KEY_ROTATED,
        Step.CONTRACT_CHANGED,
        Step.OFFBOARD,
    ):
        stage = advance(stage, step)
    assert stage is Stage.OFFBOARDED


actors = st.sampled_from(["ops:ann", "OPS:Ann ", "sec:bo", "sec:cy", " ops:ann"])


@given(st.lists(st.tuples(st.sampled_from(list(ApprovalKind)), actors), max_size=8))
def test_approvals_need_two_different_people(attempts: list[tuple[ApprovalKind, str]]) -> None:
    given_: dict[ApprovalKind, str] = {}
    for kind, actor in attempts:
        if approvals.refusal(Stage.APPROVALS, given_, kind, actor) is None:
            given_[kind] = actor
    people = {approvals.normalized_actor(a) for a in given_.values()}
    assert len(people) == len(given_)  # nobody gave two approvals
    assert approvals.complete(given_) == (len(given_) == 2)


def test_approval_refusals_say_why() -> None:
    sec = {ApprovalKind.SECURITY_REVIEW: "sec:alice"}
    same = approvals.refusal(Stage.APPROVALS, sec, ApprovalKind.OPS_SIGNOFF, "Sec:Alice")
    assert same is not None and "different person" in same
    again = approvals.refusal(Stage.APPROVALS, sec, ApprovalKind.SECURITY_REVIEW, "sec:zed")
    assert again is not None and "already given" in again
    early = approvals.refusal(Stage.TEST_EXCHANGE, {}, ApprovalKind.OPS_SIGNOFF, "ops:bob")
    assert early is not None and "test_exchange" in early
    assert approvals.refusal(Stage.APPROVALS, sec, ApprovalKind.OPS_SIGNOFF, "ops:bob") is None


@given(
    st.integers(min_value=2, max_value=400),
    st.integers(min_value=1, max_value=399),
    st.integers(min_value=1, max_value=3000),
)
def test_rotation_calendar(every: int, overlap: int, days: int) -> None:
    if overlap >= every:
        with pytest.raises(ValueError, match="overlap"):
            rotation.RotationPolicy(every, overlap)
        return
    policy = rotation.RotationPolicy(every, overlap)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now, next_at, overlap_ends = start, start + timedelta(days=every), None
    issued = cut = 0
    end = start + timedelta(days=days)
    while True:
        now = rotation.wake_at(next_at, overlap_ends)
        if now > end:
            break
        step = rotation.due(now, next_at, overlap_ends)
        if step is rotation.RotationDue.ISSUE:
            next_at, overlap_ends = rotation.after_issue(now, policy)
            issued += 1
        else:
            assert step is rotation.RotationDue.CUT_OVER
            overlap_ends = None
            cut += 1
    assert issued == days // every
    assert issued - cut in (0, 1)  # at most one rotation in its overlap at a time


def _column_edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def test_contract_changes_follow_the_contracts_check_rule() -> None:
    v1 = load_contract_text(V1)
    optional = load_contract_text(
        V1 + '\n[[columns]]\nname = "segment"\ntype = "string"\n'
    )  # a new optional column: compatible, same version is fine
    assert contract_change.refusal(v1, optional) is None
    removed = load_contract_text(
        _column_edit(V1, '[[columns]]\nname = "postal_code"', '[[columns]]\nname = "zip"')
    )
    reason = contract_change.refusal(v1, removed)
    assert reason is not None and "'postal_code' was removed" in reason
    assert "schema_version 2" in reason
    required = load_contract_text(
        _column_edit(
            V1, 'name = "email"\ntype = "email"', 'name = "email"\ntype = "email"\nrequired = true'
        )
    )
    reason = contract_change.refusal(v1, required)
    assert reason is not None and "newly required" in reason
    retyped = load_contract_text(
        _column_edit(
            V1, 'name = "customer_id"\ntype = "integer"', 'name = "customer_id"\ntype = "string"'
        )
    )
    assert "changed type" in (contract_change.refusal(v1, retyped) or "")
    major = load_contract_text(
        _column_edit(V1, "schema_version = 1", "schema_version = 2").replace(
            'name = "postal_code"', 'name = "zip"'
        )
    )
    assert contract_change.refusal(v1, major) is None
    older = contract_change.refusal(major, v1)
    assert older is not None and "older" in older
    assert "already uses" in (contract_change.refusal(v1, v1) or "")


@given(st.sets(st.sampled_from(["email", "country", "credit_limit", "updated_at"])))
def test_dropping_any_column_is_breaking_without_a_major(drop: set[str]) -> None:
    v1 = load_contract_text(V1)
    kept = tuple(c for c in v1.columns if c.name not in drop)
    smaller = v1.model_copy(update={"columns": kept})
    reason = contract_change.refusal(v1, smaller)
    if drop:
        assert reason is not None and all(f"'{name}' was removed" in reason for name in drop)
        bumped = smaller.model_copy(update={"schema_version": 2})
        assert contract_change.refusal(v1, bumped) is None
    else:
        assert reason is not None and "already uses" in reason
