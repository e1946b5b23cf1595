"""Compare a file's header with its contract: missing, unexpected, renamed and repeated columns."""

from __future__ import annotations

import re
from collections.abc import Sequence

from intake.findings import SchemaDrift

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_ .()/-]{0,63}")
_DATA_LIKE = re.compile(r"\d{3}|@")


_PUNCTUATION = re.compile(r"[^a-z0-9]")


def _normalised(name: str) -> str:
    return _PUNCTUATION.sub("", name.casefold())


def _shown(name: str) -> str:
    # A header that is really a data row (the partner dropped the header) would put customer
    # data into the report; only show names that look like column names.
    return name if _IDENTIFIER.fullmatch(name) and not _DATA_LIKE.search(name) else "***"


def compare_header(expected: Sequence[str], found: Sequence[str]) -> SchemaDrift:
    """The drift from ``expected`` (contract order) to ``found`` (file order). A found name that
    differs from an expected one only in case, spaces or punctuation — or that sits where a
    missing one should — is reported as a rename.

    Linear in the number of columns (sets and dicts, no list scans per name): a hostile header
    of tens of thousands of columns took seconds when this was quadratic."""
    expected_set = set(expected)
    found_set = set(found)
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in found:
        (repeated if name in seen else seen).add(name)
    duplicated = sorted(repeated)
    # Insertion-ordered dicts as ordered sets: O(1) membership and removal, order kept.
    missing = dict.fromkeys(n for n in expected if n not in found_set)
    unexpected = dict.fromkeys(n for n in found if n not in expected_set)
    renamed: list[tuple[str, str]] = []
    by_normal: dict[str, list[str]] = {}
    for name in unexpected if missing else ():
        by_normal.setdefault(_normalised(name), []).append(name)
    for want in list(missing):
        candidates = by_normal.get(_normalised(want), [])
        match = next((f for f in candidates if f in unexpected), None)
        if match is not None:
            renamed.append((want, match))
            del missing[want]
            del unexpected[match]
    # Same position, different name: most likely a rename, as long as the header is otherwise
    # the one we know (at least one column matched).
    if len(found) == len(expected) and len(missing) < len(expected):
        for index, want in enumerate(expected):
            got = found[index]
            if want in missing and got in unexpected:
                renamed.append((want, got))
                del missing[want]
                del unexpected[got]
    shared = [n for n in found if n in expected_set]
    reordered = shared != [n for n in expected if n in found_set]
    if not shared and not renamed:
        # Nothing matched: the first line is probably data, not a header. Echo none of it.
        shown_unexpected = ["***"] * len(unexpected)
    else:
        shown_unexpected = [_shown(n) for n in unexpected]
    return SchemaDrift(
        missing=tuple(missing),
        unexpected=tuple(shown_unexpected),
        renamed=tuple((want, _shown(got)) for want, got in renamed),
        duplicated=tuple(_shown(n) for n in duplicated),
        reordered=reordered,
    )
