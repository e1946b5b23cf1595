"""Compare a file's header with its contract: missing, unexpected, renamed and repeated columns."""

from __future__ import annotations

import re
from collections.abc import Sequence

from intake.findings import SchemaDrift

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_ .()/-]{0,63}")


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def _shown(name: str) -> str:
    # A header that is really a data row (the partner dropped the header) would put customer
    # data into the report; only show names that look like column names.
    return name if _IDENTIFIER.fullmatch(name) and not re.search(r"\d{3}|@", name) else "***"


def compare_header(expected: Sequence[str], found: Sequence[str]) -> SchemaDrift:
    """The drift from ``expected`` (contract order) to ``found`` (file order). A found name that
    differs from an expected one only in case, spaces or punctuation — or that sits where a
    missing one should — is reported as a rename."""
    duplicated = sorted({n for n in found if list(found).count(n) > 1})
    missing = [n for n in expected if n not in found]
    unexpected = [n for n in dict.fromkeys(found) if n not in expected]
    renamed: list[tuple[str, str]] = []
    for want in list(missing):
        match = next((f for f in unexpected if _normalised(f) == _normalised(want)), None)
        if match is not None:
            renamed.append((want, match))
            missing.remove(want)
            unexpected.remove(match)
    # Same position, different name: most likely a rename, as long as the header is otherwise
    # the one we know (at least one column matched).
    if len(found) == len(expected) and len(missing) < len(expected):
        for index, want in enumerate(expected):
            got = found[index]
            if want in missing and got in unexpected:
                renamed.append((want, got))
                missing.remove(want)
                unexpected.remove(got)
    shared = [n for n in found if n in expected]
    reordered = shared != [n for n in expected if n in shared]
    if not shared and not renamed:
        # Nothing matched: the first line is probably data, not a header. Echo none of it.
        unexpected = ["***"] * len(unexpected)
    return SchemaDrift(
        missing=tuple(missing),
        unexpected=tuple(_shown(n) for n in unexpected),
        renamed=tuple((want, _shown(got)) for want, got in renamed),
        duplicated=tuple(_shown(n) for n in duplicated),
        reordered=reordered,
    )
