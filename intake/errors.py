"""The exceptions the intake core raises.

Content problems in a file (bad rows, schema drift, an oversized file) are *findings*, returned in a
``ValidationSummary`` so the workflow can quarantine the file and report them; only problems that
stop the core from doing its job at all are raised::

    IntakeError
    ├── NamingError            a file name cannot be accepted (permanent: quarantine or ignore)
    │   ├── UnsafeFileName     path traversal, separators, control characters, absurd length
    │   ├── TemporaryFileName  ".part", ".tmp" or a leading "." — still being written, look later
    │   └── NameMismatch       does not follow the feed's naming contract
    ├── ChecksumMismatch       the CRC32 in the name does not match the content (permanent)
    ├── ContractError          a file or naming contract is itself invalid (a bug in the repo)
    └── FileUnreadable         the file could not be read at all (I/O: transient, retry)
"""

from __future__ import annotations


class IntakeError(Exception):
    """Base of every error the intake core raises."""


class NamingError(IntakeError, ValueError):
    """A file name cannot be accepted."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name!r}: {reason}")


class UnsafeFileName(NamingError):
    """The name could escape the inbox or confuse a later tool; never touch such a file."""


class TemporaryFileName(NamingError):
    """The partner is still uploading the file; look again at the next listing."""


class NameMismatch(NamingError):
    """The name does not follow the feed's naming contract."""


class ChecksumMismatch(IntakeError):
    """The CRC32 declared in the file name does not match the content received."""

    def __init__(self, name: str, expected: int, actual: int) -> None:
        self.name = name
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{name!r}: CRC32 in the name is {expected:08X} but the content's is {actual:08X}"
        )


class ContractError(IntakeError, ValueError):
    """A contract (TOML file or model) is invalid; the message names the file and the field."""


class FileUnreadable(IntakeError):
    """The file could not be opened or read (an I/O problem, worth a retry)."""
