"""The SSH key-rotation calendar of a live partner.

Every ``every_days`` a new key is issued while the old one keeps working (the overlap, while the
partner installs the new public key); when the overlap ends the feeds switch to the new key and
the old one is revoked. The next rotation counts from the issue of the new key, so rotations stay
``every_days`` apart however long a cut-over waited for the partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RotationDue(StrEnum):
    ISSUE = "issue"  # issue a new key; both keys work from now on
    CUT_OVER = "cut_over"  # overlap over: switch to the new key, revoke the old one


@dataclass(frozen=True)
class RotationPolicy:
    every_days: int
    overlap_days: int

    def __post_init__(self) -> None:
        if self.every_days < 1 or self.overlap_days < 1:
            raise ValueError("rotation and overlap periods are at least one day")
        if self.overlap_days >= self.every_days:
            raise ValueError("the overlap must be shorter than the rotation period")


def due(
    now: datetime, next_rotation_at: datetime, overlap_ends_at: datetime | None
) -> RotationDue | None:
    """What the calendar asks for at ``now`` (a cut-over in progress comes first)."""
    if overlap_ends_at is not None:
        return RotationDue.CUT_OVER if now >= overlap_ends_at else None
    return RotationDue.ISSUE if now >= next_rotation_at else None


def wake_at(next_rotation_at: datetime, overlap_ends_at: datetime | None) -> datetime:
    """When the calendar next has something to do."""
    return overlap_ends_at if overlap_ends_at is not None else next_rotation_at


def after_issue(now: datetime, policy: RotationPolicy) -> tuple[datetime, datetime]:
    """(next rotation, end of this overlap) for a key issued at ``now``."""
    return now + timedelta(days=policy.every_days), now + timedelta(days=policy.overlap_days)
