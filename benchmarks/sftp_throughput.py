"""SFTP download throughput: our ``adapters.sftp`` download against the OpenSSH ``sftp`` CLI.

Starts the local sshd (devstack.localstack.sshd), writes one large random file into the
partner's inbox, then downloads it in rounds, back to back in the same run:

* ``sftp`` CLI, default  : the CLI as a user would run it (OpenSSH picks chacha20-poly1305);
* ``sftp`` CLI, same cipher: the CLI forced onto the cipher our client negotiates (AES-GCM,
  which OpenSSH runs faster here): the like-for-like yardstick the target is judged on;
* ``adapters.sftp``  : ``SftpSession.download``, which also fsyncs the result (intake
  needs a durable file); the CLI does not.

Prints the cipher and compression each side negotiated, MiB/s per round, medians, and the
ratio of ours to each CLI run (medians, and per round: each round runs all three back to back,
which cancels most of the load other processes put on a shared machine). The target is >= 80 %
of the same-cipher CLI. The load average is printed before and after: on a shared machine,
quote it with the figures.

Run as root from the repository root::

    python -m benchmarks.sftp_throughput --size-mib 512 --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import adapters.sftp.tuning as sftp_tuning
from adapters.landing_zone import file_digest
from adapters.sftp import SftpEndpoint, connect, load_private_key
from devstack.localstack.sshd import LocalSshd

MiB = 1024 * 1024


def _make_file(path: Path, size_mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size_mib):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def _cli_negotiated(cmd: list[str]) -> str:
    """What the CLI negotiates (server->client cipher, compression), from ``-v`` output."""
    verbose = [cmd[0], "-v", *(part for part in cmd[1:] if part != "-q")]
    probe = subprocess.run(verbose, capture_output=True, text=True, check=True, timeout=60)
    found = re.search(
        r"kex: server->client cipher: (\S+) MAC: (\S+) compression: (\S+)", probe.stderr
    )
    if found is None:
        return "unknown"
    cipher, mac, compression = found.groups()
    return f"cipher {cipher}, MAC {mac}, compression {compression}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=512, help="file size in MiB (512)")
    parser.add_argument("--rounds", type=int, default=3, help="downloads per client (3)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (a temp dir)")
    parser.add_argument(
        "--streams",
        type=int,
        default=sftp_tuning.DOWNLOAD_STREAMS,
        help=f"SFTP connections per download ({sftp_tuning.DOWNLOAD_STREAMS})",
    )
    args = parser.parse_args(argv)
    sftp_tuning.DOWNLOAD_STREAMS = args.streams

    work = args.dir or Path(tempfile.mkdtemp(prefix="sftp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    key_path = work / "client_ed25519"
    if not key_path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_path)], check=True
        )
    try:
        with LocalSshd(work / "sshd", partner="bench") as server:
            server.authorize(key_path.with_suffix(".pub").read_text())
            known_hosts = work / "known_hosts"
            known_hosts.write_text(f"[{server.host}]:{server.port} {server.host_key.public_line}\n")
            source = server.folder("inbox") / "big.bin"
            print(f"writing {args.size_mib} MiB of random data ...", flush=True)
            expected = _make_file(source, args.size_mib)
            os.chown(source, *_owner(server))
            size = source.stat().st_size

            cli_target = work / "cli.bin"
            ours_target = work / "ours.bin"
            batch = work / "batch"
            batch.write_text(f"get /inbox/big.bin {cli_target}\n")
            endpoint = SftpEndpoint(
                host=server.host,
                port=server.port,
                username=server.login_user,
                host_key=server.host_key.public_line,
            )
            pkey = load_private_key(key_path)
            with connect(endpoint, pkey) as session:
                transport: object = session._transport
                our_cipher = str(getattr(transport, "remote_cipher", ""))
                compressed = getattr(transport, "remote_compression", None) not in (None, "none")
            ours_label = f"cipher {our_cipher}, compression {'on' if compressed else 'none'}"

            def cli_cmd(*extra: str) -> list[str]:
                return [
                    "sftp",
                    "-q",
                    "-b",
                    str(batch),
                    "-i",
                    str(key_path),
                    "-P",
                    str(server.port),
                    *extra,
                    "-o",
                    f"UserKnownHostsFile={known_hosts}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "BatchMode=yes",
                    f"{server.login_user}@{server.host}",
                ]

            clients: dict[str, list[str]] = {
                "sftp CLI, default": cli_cmd(),
                "sftp CLI, same cipher": cli_cmd("-c", our_cipher),
            }
            print(f"{'adapters.sftp':22s} {ours_label}, {args.streams} stream(s)")
            for label, cmd in clients.items():
                print(f"{label:22s} {_cli_negotiated(cmd)}")
            print(_load(), flush=True)

            def run_cli(cmd: list[str]) -> Callable[[], None]:
                def action() -> None:
                    cli_target.unlink(missing_ok=True)
                    subprocess.run(cmd, check=True, capture_output=True)

                return action

            def run_ours() -> None:
                ours_target.unlink(missing_ok=True)
                with connect(endpoint, pkey) as session:
                    session.download("inbox/big.bin", ours_target, resume=False)

            actions: dict[str, Callable[[], None]] = {
                label: run_cli(cmd) for label, cmd in clients.items()
            }
            actions["adapters.sftp"] = run_ours
            rates: dict[str, list[float]] = {label: [] for label in actions}
            for round_no in range(1, args.rounds + 1):
                shown = []
                for label, action in actions.items():
                    rates[label].append(size / MiB / _timed(action))
                    shown.append(f"{label} {rates[label][-1]:6.1f}")
                    if label != "adapters.sftp" and file_digest(cli_target) != expected:
                        print(f"{label}: downloaded file differs", file=sys.stderr)
                        return 1
                print(f"round {round_no}: " + "   ".join(shown) + "  MiB/s", flush=True)
            if file_digest(ours_target) != expected:
                print("adapters.sftp: downloaded file differs from the source", file=sys.stderr)
                return 1

            print(_load())
            print(f"file: {args.size_mib} MiB, {args.rounds} rounds each, loopback, OpenSSH sshd")
            for label, values in rates.items():
                print(
                    f"{label:22s} median {statistics.median(values):7.1f} MiB/s  "
                    f"best {max(values):7.1f}"
                )
            ours = rates["adapters.sftp"]
            for label in clients:
                ratio = statistics.median(ours) / statistics.median(rates[label])
                paired = sorted(o / c for o, c in zip(ours, rates[label], strict=True))
                target = "  (target >= 80%)" if label == "sftp CLI, same cipher" else ""
                print(
                    f"ours / {label:22s} median of rates {ratio:4.0%}, per round median "
                    f"{statistics.median(paired):4.0%} range {paired[0]:.0%}-{paired[-1]:.0%}"
                    f"{target}"
                )
            return 0
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _owner(server: LocalSshd) -> tuple[int, int]:
    folder = server.folder("inbox").stat()
    return folder.st_uid, folder.st_gid


if __name__ == "__main__":
    raise SystemExit(main())
