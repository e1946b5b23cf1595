"""The SFTP seam: one pinned, key-authenticated session to a partner's server (paramiko, blocking).

Everything here blocks; callers run it in sync activities on a thread pool, never on an event loop.

Errors
    Every failure is one of these, so an activity can map ``retryable`` to Temporal's
    ``ApplicationError(non_retryable=...)`` and ``error_type`` to its ``type``::

        SftpError                       base; .retryable, .error_type
        ├── SftpTransientError          retryable: the next attempt may succeed
        │   ├── SftpConnectionLost      refused, reset, EOF, transport died mid-operation
        │   ├── SftpTimeout             connect, handshake or a read took too long
        │   ├── RemoteFileChanged       size/mtime moved under a download; local file reset
        │   └── RemoteOperationFailed   the server's generic SSH_FX_FAILURE (full disk, ...)
        └── SftpPermanentError          non-retryable: fix configuration or data first
            ├── HostKeyMismatch         unknown (not pinned) or changed host key; .expected/.actual
            ├── AuthenticationRefused   the server refused our key
            ├── PathOutsideJail         a path with "..", control bytes, or outside the root
            ├── RemoteFileNotFound      ENOENT
            └── RemotePermissionDenied  EACCES

Throughput
    A download is one open handle read by :class:`~adapters.sftp.read_pipeline.ReadPipeline`, which
    speaks SFTP reads itself: a sliding window of :data:`~adapters.sftp.tuning.READ_WINDOW`
    ``SSH_FXP_READ`` requests of up to 255 KiB (OpenSSH's sftp-server cap; a server that answers
    shorter is asked for the rest, and later requests shrink to its size), refilled as replies come
    in, several requests to one channel packet. Replies are parsed straight off the channel's
    receive chunks (:class:`~adapters.sftp.transport.ChunkedPipe`, which wakes the reader once per
    reply rather than per SSH packet) and handed on as views, never copied; a writer thread appends
    them in order with ``pwritev`` and flushes to disk as it goes, so the final fsync is short. The
    transport reads its socket in 256 KiB pieces (:class:`~adapters.sftp.transport.BufferedSocket`),
    AES-GCM is preferred, compression stays off, and the channel has a 64 MiB window.

    paramiko's own paths measured 5 MiB/s for plain reads (one 32 KiB round trip each), ~100
    MiB/s for ``get`` and 66-78 % of the ``sftp`` CLI for batched ``readv`` (the server idled
    at each batch boundary, and per-reply Python objects plus GIL hand-offs between the
    transport thread and the reader cost the rest; measured 59 % of the CLI on the same
    cipher). This path measured 81-97 % of that CLI (per-round medians; 75-89 % as a ratio
    of median rates), and ~150 % of the CLI with its default cipher, on a shared 2-core
    loopback at load 3-5, fsync included for us only (benchmarks/sftp_throughput.py).

    :data:`~adapters.sftp.tuning.DOWNLOAD_STREAMS` > 1 spreads a large download over several
    connections (the extra ones opened with the same pin and key) in chunks appended strictly in
    order, so the local file is always a prefix of the remote one and its size stays the resume
    offset. With the pipeline above a second stream measured no faster on 2 cores (more GIL
    contention, twice the server sessions), so the default is one.

Modules
    ``errors`` the tree above · ``remote`` endpoint, file and result values, the path jail ·
    ``keys`` host-key fingerprints and private keys · ``connection`` :func:`connect` ·
    ``session`` :class:`SftpSession` (listing, download, atomic upload, renames) ·
    ``read_pipeline``, ``transport``, ``local_writer``, ``parallel`` the download path ·
    ``tuning`` its knobs, read at call time so a benchmark or test can turn them.
"""

from adapters.sftp.connection import connect
from adapters.sftp.errors import (
    AuthenticationRefused,
    HostKeyMismatch,
    PathOutsideJail,
    RemoteFileChanged,
    RemoteFileNotFound,
    RemoteOperationFailed,
    RemotePermissionDenied,
    SftpConnectionLost,
    SftpError,
    SftpPermanentError,
    SftpTimeout,
    SftpTransientError,
)
from adapters.sftp.keys import fingerprint, load_private_key, private_key_from_text
from adapters.sftp.remote import (
    DownloadResult,
    ProgressCallback,
    RemoteFile,
    SftpEndpoint,
    resolve_remote,
    unchanged_between,
)
from adapters.sftp.session import SftpSession

# One temporary-name rule (a feed's naming contract configures its suffixes); re-exported.
from intake.naming import is_temporary_name

__all__ = [
    "AuthenticationRefused",
    "DownloadResult",
    "HostKeyMismatch",
    "PathOutsideJail",
    "ProgressCallback",
    "RemoteFile",
    "RemoteFileChanged",
    "RemoteFileNotFound",
    "RemoteOperationFailed",
    "RemotePermissionDenied",
    "SftpConnectionLost",
    "SftpEndpoint",
    "SftpError",
    "SftpPermanentError",
    "SftpSession",
    "SftpTimeout",
    "SftpTransientError",
    "connect",
    "fingerprint",
    "is_temporary_name",
    "load_private_key",
    "private_key_from_text",
    "resolve_remote",
    "unchanged_between",
]
