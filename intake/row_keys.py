"""Natural-key fingerprints of rows, for de-duplication across files within a window.

A key is the row's natural-key values joined with a unit separator and hashed (BLAKE2b, 16
bytes): stable across processes and versions, so fingerprints can be stored and compared later,
and no key value itself is stored (keys may be PII).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

_SEPARATOR = "\x1f"


def key_fingerprints(table: pa.Table, columns: Sequence[str]) -> list[bytes]:
    """One fingerprint per row of ``table`` over ``columns`` (nulls count as empty)."""
    if not columns:
        raise ValueError("a natural key needs at least one column")
    parts = [pc.fill_null(pc.cast(table.column(c), pa.string()), "") for c in columns]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _SEPARATOR)
    return [
        hashlib.blake2b(value.encode(), digest_size=16).digest() for value in joined.to_pylist()
    ]


def first_occurrences(fingerprints: Sequence[bytes]) -> list[bool]:
    """True for the first row with each key; later repeats inside one file are duplicates."""
    seen: set[bytes] = set()
    keep = []
    for fingerprint in fingerprints:
        keep.append(fingerprint not in seen)
        seen.add(fingerprint)
    return keep
