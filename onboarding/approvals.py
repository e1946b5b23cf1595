"""Two approvals before a partner goes live: a security review and an ops sign-off, given by two
different people (four eyes). ``refusal`` is what the update validators ask."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from onboarding.stages import Stage


class ApprovalKind(StrEnum):
    SECURITY_REVIEW = "security_review"
    OPS_SIGNOFF = "ops_signoff"


def normalized_actor(actor: str) -> str:
    # "ops:Ann " and "ops:ann" are the same person: compare case- and space-insensitively.
    return " ".join(actor.split()).casefold()


def refusal(
    stage: Stage, given: Mapping[ApprovalKind, str], kind: ApprovalKind, actor: str
) -> str | None:
    """Why ``actor`` may not give ``kind`` now (None when they may). ``given`` maps each approval
    already given to who gave it."""
    if not actor.strip():
        raise ValueError("an approval names who gives it")
    if stage is not Stage.APPROVALS:
        return f"approvals are taken in stage approvals; the partner is in {stage.value}"
    if kind in given:
        return f"{kind.value} was already given by {given[kind]}"
    who = normalized_actor(actor)
    for other_kind, other_actor in given.items():
        if normalized_actor(other_actor) == who:
            return (
                f"{actor} already gave the {other_kind.value}: the {kind.value} needs "
                "a different person"
            )
    return None


def complete(given: Mapping[ApprovalKind, str]) -> bool:
    """Both approvals given, by two different people."""
    people = {normalized_actor(a) for a in given.values()}
    return set(given) == set(ApprovalKind) and len(people) == len(ApprovalKind)
