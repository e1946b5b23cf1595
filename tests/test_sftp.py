"""The SFTP seam against a real OpenSSH sshd: pinning, auth, listing, resume, atomic moves."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adapters.sftp.tuning as sftp_tuning
from adapters.sftp import (
    AuthenticationRefused,
    HostKeyMismatch,
    PathOutsideJail,
    RemoteFile,
    RemoteFileChanged,
    RemoteFileNotFound,
    RemotePermissionDenied,
    SftpConnectionLost,
    SftpEndpoint,
    SftpSession,
    connect,
    fingerprint,
    is_temporary_name,
    resolve_remote,
    unchanged_between,
)
from adapters.sftp.read_pipeline import ReadPipeline
from adapters.sftp.transport import ChunkedBytes
from devstack.localstack.sshd import ClientKey, LocalSshd, make_client_key

MiB = 1024 * 1024


def _random_bytes(size: int) -> bytes:
    return os.urandom(size)


# --- connection ----------------------------------------------------------------------------------


def test_connects_with_pinned_key_line_and_fingerprint(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey, sshd_server: LocalSshd
) -> None:
    by_fingerprint = SftpEndpoint(
        host=sftp_endpoint.host,
        port=sftp_endpoint.port,
        username=sftp_endpoint.username,
        host_key=sshd_server.host_key.fingerprint,
    )
    for endpoint in (sftp_endpoint, by_fingerprint):
        with connect(endpoint, sftp_client_key.pkey, timeout=10) as session:
            assert session.list_dir("inbox") == []
    assert fingerprint(sshd_server.host_key.public_line) == sshd_server.host_key.fingerprint


def test_changed_host_key_is_refused_with_both_fingerprints(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey, tmp_path: Path, sshd_server: LocalSshd
) -> None:
    other = make_client_key(tmp_path, "not-the-host").public_line  # any other ed25519 key
    pinned_wrong = SftpEndpoint(
        host=sftp_endpoint.host,
        port=sftp_endpoint.port,
        username=sftp_endpoint.username,
        host_key=other,
    )
    with pytest.raises(HostKeyMismatch) as caught:
        connect(pinned_wrong, sftp_client_key.pkey, timeout=10)
    assert caught.value.expected == fingerprint(other)
    assert caught.value.actual == sshd_server.host_key.fingerprint
    assert caught.value.retryable is False


def test_unpinned_host_key_is_refused(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey, sshd_server: LocalSshd
) -> None:
    unpinned = SftpEndpoint(
        host=sftp_endpoint.host,
        port=sftp_endpoint.port,
        username=sftp_endpoint.username,
        host_key="",
    )
    with pytest.raises(HostKeyMismatch) as caught:
        connect(unpinned, sftp_client_key.pkey, timeout=10)
    assert caught.value.expected is None
    assert caught.value.actual == sshd_server.host_key.fingerprint


def test_pinned_key_type_not_offered_is_a_mismatch(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey
) -> None:
    rsa_pin = SftpEndpoint(
        host=sftp_endpoint.host,
        port=sftp_endpoint.port,
        username=sftp_endpoint.username,
        host_key="rsa-sha2-256 AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7",
    )
    with pytest.raises(HostKeyMismatch):
        connect(rsa_pin, sftp_client_key.pkey, timeout=10)


def test_unauthorized_key_is_refused(sftp_endpoint: SftpEndpoint, tmp_path: Path) -> None:
    stranger = make_client_key(tmp_path, "stranger")
    with pytest.raises(AuthenticationRefused) as caught:
        connect(sftp_endpoint, stranger.pkey, timeout=10)
    assert caught.value.retryable is False


def test_a_server_that_drops_during_authentication_is_a_lost_connection(
    sftp_client_key: ClientKey,
) -> None:
    """A partner's server restarting mid-handshake makes paramiko report an authentication
    failure ("transport shut down or saw EOF"): that is a lost connection to retry, not a
    refused key (which would pause the feed). Played by a paramiko server that hangs up when
    asked to check our key."""
    import socket
    import threading

    import paramiko

    host_key = paramiko.RSAKey.generate(2048)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    class HangsUp(paramiko.ServerInterface):  # type: ignore[misc]
        transport: paramiko.Transport | None = None

        def get_allowed_auths(self, username: str) -> str:
            return "publickey"

        def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
            assert self.transport is not None
            self.transport.close()
            return int(paramiko.AUTH_FAILED)

    def serve() -> None:
        conn, _ = listener.accept()
        server = HangsUp()
        transport = paramiko.Transport(conn)
        server.transport = transport
        transport.add_server_key(host_key)
        # paramiko serves AES-GCM to clients poorly; CTR is enough to reach authentication.
        transport.get_security_options().ciphers = ("aes128-ctr",)
        with contextlib.suppress(Exception):
            transport.start_server(server=server)
            transport.join(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    endpoint = SftpEndpoint(
        host="127.0.0.1",
        port=port,
        username="partner",
        host_key=f"rsa-sha2-256 {host_key.get_base64()}",
    )
    try:
        with pytest.raises(SftpConnectionLost) as caught:
            connect(endpoint, sftp_client_key.pkey, timeout=10)
        assert caught.value.retryable is True
    finally:
        listener.close()
        thread.join(10)


def test_server_down_is_a_retryable_connection_error(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey, sshd_server: LocalSshd
) -> None:
    sshd_server.stop()
    try:
        with pytest.raises(SftpConnectionLost) as caught:
            connect(sftp_endpoint, sftp_client_key.pkey, timeout=5)
        assert caught.value.retryable is True
    finally:
        sshd_server.start()


# --- listing -------------------------------------------------------------------------------------


def test_listing_skips_temporary_names_and_folders(
    sftp_session: SftpSession, sshd_server: LocalSshd
) -> None:
    for name in ("b.csv", "a.csv", ".hidden.csv", "c.csv.part", "d.tmp", "e.CSV.TMP", "f.filepart"):
        sshd_server.drop_file("inbox", name, b"x,y\n")
    (sshd_server.folder("inbox") / "sub").mkdir()
    listed = sftp_session.list_dir("inbox")
    assert [f.name for f in listed] == ["a.csv", "b.csv"]
    assert listed[0].path == "/inbox/a.csv"
    assert listed[0].size == 4
    assert listed[0].mtime > 0


def test_listing_follows_the_feeds_temporary_suffixes(
    sftp_session: SftpSession, sshd_server: LocalSshd
) -> None:
    """One rule (intake.naming): a feed that names its uploads ``.uploading`` is listed with
    those left out, while its own suffixes replace the defaults."""
    for name in ("a.csv", "b.csv.uploading", "c.csv.part", ".d.csv"):
        sshd_server.drop_file("inbox", name, b"x,y\n")
    assert [f.name for f in sftp_session.list_dir("inbox")] == ["a.csv", "b.csv.uploading"]
    feed_rule = (".uploading",)
    listed = sftp_session.list_stable("inbox", settle_seconds=0, temporary_suffixes=feed_rule)
    assert [f.name for f in listed] == ["a.csv", "c.csv.part"]


def test_is_temporary_name() -> None:
    assert is_temporary_name(".x")
    assert is_temporary_name("x.csv.part")
    assert is_temporary_name("x.TMP")
    assert not is_temporary_name("x.csv")
    assert not is_temporary_name("partial.csv")


def test_unstable_files_are_skipped(sftp_session: SftpSession, sshd_server: LocalSshd) -> None:
    sshd_server.drop_file("inbox", "done.csv", b"complete\n")
    growing = sshd_server.drop_file("inbox", "growing.csv", b"first rows\n")

    def partner_keeps_writing(_seconds: float) -> None:
        with growing.open("ab") as handle:
            handle.write(b"more rows\n")

    stable = sftp_session.list_stable("inbox", settle_seconds=0, sleep=partner_keeps_writing)
    assert [f.name for f in stable] == ["done.csv"]


def test_unchanged_between_compares_size_and_mtime() -> None:
    a1 = RemoteFile("a", "/inbox/a", 10, 100)
    b1 = RemoteFile("b", "/inbox/b", 10, 100)
    c2 = RemoteFile("c", "/inbox/c", 1, 1)
    assert unchanged_between([a1, b1], [a1, RemoteFile("b", "/inbox/b", 10, 101), c2]) == [a1]


# --- download ------------------------------------------------------------------------------------


def test_download_is_byte_identical_and_reports_progress(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    data = _random_bytes(40 * MiB + 123)
    sshd_server.drop_file("inbox", "big.bin", data)
    seen: list[tuple[int, int]] = []
    result = sftp_session.download(
        "inbox/big.bin",
        tmp_path / "big.bin",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (tmp_path / "big.bin").read_bytes() == data
    assert result.size == len(data)
    assert result.resumed_from == 0
    assert result.transferred == len(data)
    assert seen[0] == (0, len(data))
    assert seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_download_resumes_from_the_local_size(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    data = _random_bytes(3 * MiB + 7)
    sshd_server.drop_file("inbox", "r.bin", data)
    local = tmp_path / "r.bin"
    local.write_bytes(data[: MiB + 5])
    result = sftp_session.download("inbox/r.bin", local)
    assert result.resumed_from == MiB + 5
    assert result.transferred == len(data) - (MiB + 5)
    assert local.read_bytes() == data


def test_download_without_resume_starts_over(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    sshd_server.drop_file("inbox", "n.bin", b"new content")
    local = tmp_path / "n.bin"
    local.write_bytes(b"stale bytes that are longer than the file")
    result = sftp_session.download("inbox/n.bin", local, resume=False)
    assert result.resumed_from == 0
    assert local.read_bytes() == b"new content"


def test_parallel_download_appends_in_order_and_resumes(
    sftp_session: SftpSession,
    sshd_server: LocalSshd,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over several connections the local file still only grows at its end: after every
    progress report it is exactly the reported prefix, so its size stays the resume offset."""
    monkeypatch.setattr(sftp_tuning, "DOWNLOAD_STREAMS", 3)
    monkeypatch.setattr(sftp_tuning, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(sftp_tuning, "PARALLEL_CHUNK_BYTES", MiB)
    data = _random_bytes(10 * MiB + 7)
    sshd_server.drop_file("inbox", "p.bin", data)
    local = tmp_path / "p.bin"
    local.write_bytes(data[: MiB + 5])
    seen: list[int] = []

    def check_prefix(done: int, total: int) -> None:
        assert total == len(data)
        assert local.stat().st_size == done
        seen.append(done)

    result = sftp_session.download("inbox/p.bin", local, progress=check_prefix)
    assert result.resumed_from == MiB + 5
    assert result.transferred == len(data) - (MiB + 5)
    assert local.read_bytes() == data
    assert seen == [MiB + 5 + i * MiB for i in range(10)] + [len(data)]
    assert local.read_bytes()[: seen[3]] == data[: seen[3]]


def test_parallel_download_without_a_second_connection_uses_one(
    sftp_session: SftpSession,
    sshd_server: LocalSshd,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sftp_tuning, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(sftp_tuning, "PARALLEL_CHUNK_BYTES", MiB)
    data = _random_bytes(4 * MiB + 3)
    sshd_server.drop_file("inbox", "q.bin", data)

    def refused() -> SftpSession:
        raise SftpConnectionLost("too many sessions")

    sftp_session._opener = refused
    result = sftp_session.download("inbox/q.bin", tmp_path / "q.bin")
    assert result.transferred == len(data)
    assert (tmp_path / "q.bin").read_bytes() == data
    assert sftp_session.list_dir("inbox")[0].size == len(data)  # the session still works


def test_chunked_receive_buffer_matches_a_bytearray() -> None:
    rng = random.Random(7)
    for _ in range(200):
        reference = bytearray()
        buffer = ChunkedBytes()
        for _ in range(50):
            if rng.random() < 0.5:
                data = rng.randbytes(rng.randint(0, 40))
                reference += data
                buffer.append(data)
            else:
                limit = rng.choice([None, rng.randint(0, 90)])
                assert buffer.peek(limit) == bytes(reference[:limit])
                del buffer[:limit]
                del reference[:limit]
            assert len(buffer) == len(reference)


# --- the read pipeline ---------------------------------------------------------------------------

REQUEST = sftp_tuning.READ_REQUEST_SIZE
WINDOW_BYTES = sftp_tuning.READ_WINDOW * REQUEST


@pytest.mark.parametrize(
    "size",
    [0, 1, REQUEST - 1, REQUEST, REQUEST + 1, WINDOW_BYTES - 1, WINDOW_BYTES, WINDOW_BYTES + 1],
)
def test_download_sizes_around_request_and_window_boundaries(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path, size: int
) -> None:
    data = _random_bytes(size)
    sshd_server.drop_file("inbox", "b.bin", data)
    seen: list[int] = []
    result = sftp_session.download(
        "inbox/b.bin", tmp_path / "b.bin", progress=lambda done, _total: seen.append(done)
    )
    assert (tmp_path / "b.bin").read_bytes() == data
    assert result.transferred == size
    assert seen[-1] == size
    # The SFTP stream is still in step: paramiko's own requests work on the same session.
    assert [f.size for f in sftp_session.list_dir("inbox")] == [size]


@pytest.mark.parametrize("kept", [1, REQUEST - 1, REQUEST, REQUEST + 1, 3 * REQUEST + 4])
def test_resume_from_offsets_around_request_boundaries(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path, kept: int
) -> None:
    data = _random_bytes(3 * REQUEST + 5)
    sshd_server.drop_file("inbox", "r.bin", data)
    local = tmp_path / "r.bin"
    local.write_bytes(data[:kept])
    result = sftp_session.download("inbox/r.bin", local)
    assert result.resumed_from == kept
    assert result.transferred == len(data) - kept
    assert local.read_bytes() == data


def test_requests_larger_than_the_server_serves_adapt(
    sftp_session: SftpSession,
    sshd_server: LocalSshd,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenSSH's sftp-server answers at most 255 KiB per read: asking for more gets short
    replies, whose rest is asked again, and later requests shrink to what the server gave."""
    monkeypatch.setattr(sftp_tuning, "READ_REQUEST_SIZE", 300 * 1024)
    asked: list[int] = []
    request = ReadPipeline._request

    def recording(self: ReadPipeline, request_id: int, offset: int, length: int) -> bytes:
        asked.append(length)
        return request(self, request_id, offset, length)

    monkeypatch.setattr(ReadPipeline, "_request", recording)
    data = _random_bytes(40 * 300 * 1024 + 11)
    sshd_server.drop_file("inbox", "c.bin", data)
    sftp_session.download("inbox/c.bin", tmp_path / "c.bin")
    assert (tmp_path / "c.bin").read_bytes() == data
    assert asked[0] == 300 * 1024
    assert 45 * 1024 in asked  # the rest of a capped reply, asked again
    assert max(asked[-5:]) <= 255 * 1024  # adapted to the server's cap


def test_repeated_downloads_on_one_session_stay_in_step(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    first, second = _random_bytes(2 * MiB + 3), _random_bytes(5 * MiB + 1)
    sshd_server.drop_file("inbox", "1.bin", first)
    sshd_server.drop_file("inbox", "2.bin", second)
    for _ in range(2):
        sftp_session.download("inbox/1.bin", tmp_path / "1.bin", resume=False)
        sftp_session.download("inbox/2.bin", tmp_path / "2.bin", resume=False)
        assert (tmp_path / "1.bin").read_bytes() == first
        assert (tmp_path / "2.bin").read_bytes() == second
    assert sftp_session.stat("inbox/2.bin").size == len(second)


class _ScriptedServer:
    """An in-memory SFTP peer for :class:`ReadPipeline`'s state machine: it answers each
    batch of ``SSH_FXP_READ`` requests in a shuffled order, serves at most ``cap`` bytes per
    reply (sometimes fewer), reports EOF past the end, fails reads at ``fail_at``, and
    delivers the byte stream in random fragments. Real OpenSSH always answers in order and
    in full below its cap, so these paths are only reachable this way."""

    def __init__(self, data: bytes, cap: int, seed: int, fail_at: int | None = None) -> None:
        self.data = data
        self.cap = cap
        self.fail_at = fail_at
        self.rng = random.Random(seed)
        self.outbox = bytearray()
        self.request_number = 1  # SFTPClient's counter
        self.sock = self  # the "channel"
        self.in_buffer = None  # not a _ChunkedPipe: the pipeline uses plain recv

    def gettimeout(self) -> float:
        return 5.0

    def sendall(self, raw: bytes) -> None:
        replies = []
        view = memoryview(raw)
        while view:
            (length,) = struct.unpack(">I", view[:4])
            body, view = bytes(view[4 : 4 + length]), view[4 + length :]
            kind, request_id, handle_len = struct.unpack(">BII", body[:9])
            assert kind == 5 and body[9 : 9 + handle_len] == b"handle"
            offset, wanted = struct.unpack(">QI", body[9 + handle_len :])
            replies.append(self._reply(request_id, offset, wanted))
        self.rng.shuffle(replies)
        for reply in replies:
            self.outbox += reply

    def _reply(self, request_id: int, offset: int, wanted: int) -> bytes:
        if offset == self.fail_at:
            text = b"disk on fire"
            body = struct.pack(">BII", 101, request_id, 4) + struct.pack(">I", len(text)) + text
            return struct.pack(">I", len(body) + 4) + body + b"\0\0\0\0"
        if offset >= len(self.data):
            body = struct.pack(">BII", 101, request_id, 1) + b"\0\0\0\0" * 2
            return struct.pack(">I", len(body)) + body
        count = min(wanted, self.cap, len(self.data) - offset)
        if self.rng.random() < 0.2:
            count = self.rng.randint(1, count)
        chunk = self.data[offset : offset + count]
        return struct.pack(">IBII", 9 + count, 103, request_id, count) + chunk

    def recv(self, limit: int) -> bytes:
        assert self.outbox, "the pipeline waited for a reply that was never asked for"
        count = self.rng.randint(1, min(limit, len(self.outbox)))
        out = bytes(self.outbox[:count])
        del self.outbox[:count]
        return out


@contextlib.contextmanager
def _pipeline_settings(request: int, window: int, refill: int) -> Iterator[None]:
    saved = (sftp_tuning.READ_REQUEST_SIZE, sftp_tuning.READ_WINDOW, sftp_tuning.READ_REFILL)
    sftp_tuning.READ_REQUEST_SIZE, sftp_tuning.READ_WINDOW = request, window
    sftp_tuning.READ_REFILL = refill
    try:
        yield
    finally:
        (sftp_tuning.READ_REQUEST_SIZE, sftp_tuning.READ_WINDOW, sftp_tuning.READ_REFILL) = saved


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(0, 3000),
    start=st.integers(0, 3000),
    extra=st.integers(0, 400),
    request=st.integers(1, 300),
    window=st.integers(1, 8),
    refill=st.integers(1, 8),
    cap=st.integers(1, 400),
    seed=st.integers(0, 2**32),
)
def test_read_pipeline_hands_on_data_in_order_whatever_the_replies(
    size: int,
    start: int,
    extra: int,
    request: int,
    window: int,
    refill: int,
    cap: int,
    seed: int,
) -> None:
    """Replies out of order, short, split anywhere, past the end of a file that shrank: the
    sink still gets exactly the file's bytes, contiguous and in order, and the stream ends
    in step (every request answered, nothing left over)."""
    data = random.Random(seed).randbytes(size)
    start = min(start, size)
    end = size + extra  # asking past the end: the file is shorter than listed
    server = _ScriptedServer(data, cap, seed)
    got: list[tuple[int, bytes]] = []
    pipeline = ReadPipeline(server, b"handle")
    with _pipeline_settings(request, window, refill):
        reached = pipeline.read(start, end, lambda at, pieces: got.append((at, b"".join(pieces))))
    assert reached == size
    assert b"".join(chunk for _, chunk in got) == data[start:]
    offsets = [at for at, _ in got]
    assert offsets == [start + sum(len(c) for _, c in got[:i]) for i in range(len(got))]
    assert pipeline.in_step and not server.outbox
    assert server.request_number > 1 or start == size


def test_read_pipeline_failure_drains_the_window_then_raises() -> None:
    data = os.urandom(5000)
    server = _ScriptedServer(data, cap=100, seed=3, fail_at=1000)
    got: list[int] = []
    pipeline = ReadPipeline(server, b"handle")
    with _pipeline_settings(100, 8, 2), pytest.raises(OSError) as caught:
        pipeline.read(0, len(data), lambda at, _pieces: got.append(at))
    assert caught.value.errno == errno.EIO
    assert "disk on fire" in str(caught.value)
    assert pipeline.in_step and not server.outbox  # every reply read: paramiko can go on
    assert all(at < 1000 for at in got)


@pytest.mark.slow
@pytest.mark.parametrize("streams", [1, 2], ids=["one-stream", "parallel"])
def test_download_resumes_after_sshd_is_killed_mid_transfer(
    sftp_endpoint: SftpEndpoint,
    sftp_client_key: ClientKey,
    sshd_server: LocalSshd,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    streams: int,
) -> None:
    monkeypatch.setattr(sftp_tuning, "DOWNLOAD_STREAMS", streams)
    data = _random_bytes(96 * MiB)
    sshd_server.drop_file("inbox", "payroll.bin", data)
    local = tmp_path / "payroll.bin.part"
    heartbeats: list[int] = []

    opened: list[SftpSession] = []

    def crash_at_a_third(done: int, total: int) -> None:
        heartbeats.append(done)
        # On a loaded machine the second connection's handshake can lag the first stream;
        # crash only once every stream is up, so the parallel path is what gets interrupted.
        all_up = len(opened) == streams - 1
        if done >= total // 3 and all_up and sshd_server.running:
            sshd_server.kill()  # SIGKILL listener and session, as a crash would

    with connect(sftp_endpoint, sftp_client_key.pkey, timeout=10, io_timeout=20) as first:
        listed = first.list_dir("inbox")[0]
        opener = first._opener
        assert opener is not None

        def counting_opener() -> SftpSession:
            opened.append(opener())
            return opened[-1]

        first._opener = counting_opener
        with pytest.raises(SftpConnectionLost) as caught:
            first.download(listed.path, local, expected=listed, progress=crash_at_a_third)
    assert caught.value.retryable is True
    assert len(opened) == streams - 1  # the parallel path really ran over two connections
    partial = local.stat().st_size
    assert 0 < partial < len(data)
    assert partial <= heartbeats[-1]
    assert local.read_bytes() == data[:partial]  # a prefix, never a file with holes

    sshd_server.restart()  # same port, same host key: the pinned endpoint still works
    with connect(sftp_endpoint, sftp_client_key.pkey, timeout=10) as second:
        result = second.download(listed.path, local, expected=listed)
    assert result.resumed_from == partial > 0
    assert result.transferred == len(data) - partial
    assert hashlib.sha256(local.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_download_refuses_a_file_replaced_since_listing(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    sshd_server.drop_file("inbox", "x.csv", b"v1")
    listed = sftp_session.list_dir("inbox")[0]
    sshd_server.drop_file("inbox", "x.csv", b"version 2")
    local = tmp_path / "x.csv"
    local.write_bytes(b"v")
    with pytest.raises(RemoteFileChanged):
        sftp_session.download(listed.path, local, expected=listed)
    assert not local.exists()


def test_missing_remote_file_is_permanent(sftp_session: SftpSession, tmp_path: Path) -> None:
    with pytest.raises(RemoteFileNotFound) as caught:
        sftp_session.download("inbox/nope.csv", tmp_path / "nope.csv")
    assert caught.value.retryable is False


# --- upload and rename ---------------------------------------------------------------------------


def test_upload_atomic_leaves_no_temporary_file(
    sftp_session: SftpSession, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    report.write_bytes(_random_bytes(5 * MiB + 1))
    assert sftp_session.upload_atomic(report, "outbox/report.json") == report.stat().st_size
    outbox = sshd_server.folder("outbox")
    assert sorted(p.name for p in outbox.iterdir()) == ["report.json"]
    assert (outbox / "report.json").read_bytes() == report.read_bytes()

    # A second upload replaces the target in one step (idempotent re-run of an activity).
    report.write_bytes(b"second version")
    sftp_session.upload_atomic(report, "outbox/report.json")
    assert sorted(p.name for p in outbox.iterdir()) == ["report.json"]
    assert (outbox / "report.json").read_bytes() == b"second version"


@pytest.mark.slow
def test_interrupted_upload_never_leaves_a_partial_target(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(_random_bytes(32 * MiB))

    def crash(done: int, _total: int) -> None:
        if done >= 8 * MiB and sshd_server.running:
            sshd_server.kill()

    with (
        connect(sftp_endpoint, sftp_client_key.pkey, timeout=10, io_timeout=20) as session,
        pytest.raises(SftpConnectionLost),
    ):
        session.upload_atomic(report, "outbox/report.csv", progress=crash)
    assert not (sshd_server.folder("outbox") / "report.csv").exists()
    sshd_server.start()
    with connect(sftp_endpoint, sftp_client_key.pkey, timeout=10) as session:
        assert session.list_dir("outbox") == []  # a leftover temp file, if any, is ignored


def test_posix_rename_moves_into_archive(sftp_session: SftpSession, sshd_server: LocalSshd) -> None:
    sshd_server.drop_file("inbox", "a.csv", b"a\n")
    sftp_session.posix_rename("inbox/a.csv", "archive/a.csv")
    assert sftp_session.list_dir("inbox") == []
    assert [f.name for f in sftp_session.list_dir("archive")] == ["a.csv"]
    assert (sshd_server.folder("archive") / "a.csv").read_bytes() == b"a\n"


def test_writing_to_the_jail_root_is_denied(sftp_session: SftpSession, tmp_path: Path) -> None:
    local = tmp_path / "x"
    local.write_bytes(b"x")
    with pytest.raises(RemotePermissionDenied) as caught:
        sftp_session.upload_atomic(local, "/x")
    assert caught.value.retryable is False


# --- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "inbox/../../etc/passwd",
        "inbox/..",
        "in\x00box/a",
        "inbox/a\nb",
        "a\\..\\b",
        "",
    ],
)
def test_path_traversal_is_refused_before_any_io(
    sftp_session: SftpSession, tmp_path: Path, path: str
) -> None:
    with pytest.raises(PathOutsideJail) as caught:
        sftp_session.download(path, tmp_path / "out")
    assert caught.value.retryable is False
    with pytest.raises(PathOutsideJail):
        sftp_session.posix_rename("inbox/a.csv", path)
    assert not (tmp_path / "out").exists()


def test_resolve_remote_keeps_paths_under_the_root() -> None:
    assert resolve_remote("/", "inbox/a.csv") == "/inbox/a.csv"
    assert resolve_remote("/", "/inbox/./a.csv") == "/inbox/a.csv"
    assert resolve_remote("/partners/acme", "inbox") == "/partners/acme/inbox"
    assert resolve_remote("/partners/acme", "/partners/acme/inbox/a") == "/partners/acme/inbox/a"
    with pytest.raises(PathOutsideJail):
        resolve_remote("/partners/acme", "/partners/acme-evil/inbox")
    with pytest.raises(PathOutsideJail):
        resolve_remote("/partners/acme", "/etc/passwd")
