"""How PII is shown to people: masked, in error reports, acks and findings."""

from __future__ import annotations


def mask_value(value: str) -> str:
    """``***`` plus the last four characters, and only when at least half stays hidden:
    enough for a partner to find the row, not enough to read the value. Masking a masked value
    changes nothing, so a report can re-mask safely."""
    if value.startswith("***") and len(value) <= 7:
        return value
    return f"***{value[-4:]}" if len(value) >= 8 else "***"
