"""Every failure the SFTP adapter raises (the tree is in the package docstring)."""

from __future__ import annotations


class SftpError(Exception):
    """Base of every error the SFTP adapter raises."""

    retryable: bool = False

    @property
    def error_type(self) -> str:
        return type(self).__name__


class SftpTransientError(SftpError):
    retryable = True


class SftpPermanentError(SftpError):
    retryable = False


class SftpConnectionLost(SftpTransientError):
    pass


class SftpTimeout(SftpTransientError):
    pass


class RemoteFileChanged(SftpTransientError):
    pass


class RemoteOperationFailed(SftpTransientError):
    pass


class HostKeyMismatch(SftpPermanentError):
    """The server's host key is not the pinned one (or nothing was pinned)."""

    def __init__(self, host: str, port: int, expected: str | None, actual: str) -> None:
        self.host = host
        self.port = port
        self.expected = expected
        self.actual = actual
        shown = expected if expected else "nothing pinned"
        super().__init__(
            f"host key of {host}:{port} is {actual}, expected {shown}; refusing to connect"
        )


class AuthenticationRefused(SftpPermanentError):
    pass


class PathOutsideJail(SftpPermanentError):
    pass


class RemoteFileNotFound(SftpPermanentError):
    pass


class RemotePermissionDenied(SftpPermanentError):
    pass
