"""SFTP download throughput: our ``integrations.sftp`` download against the OpenSSH ``sftp`` CLI.

Starts the local sshd (integrations.localstack.sshd), writes one large random file into the
partner's inbox, then downloads it alternately with the ``sftp`` command-line client and with our
``SftpSession.download`` (which also fsyncs the result, as intake needs), several rounds, in the
same run. Prints MiB/s for each and the ratio of the medians; the target is >= 80 %.

Run as root from the repository root::

    python -m benchmarks.sftp_throughput --size-mib 512 --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from integrations.localstack.sshd import LocalSshd
from integrations.sftp import SftpEndpoint, connect, load_private_key

MiB = 1024 * 1024


def _make_file(path: Path, size_mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size_mib):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def _timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=512, help="file size in MiB (512)")
    parser.add_argument("--rounds", type=int, default=3, help="downloads per client (3)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (a temp dir)")
    args = parser.parse_args(argv)

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
            cli_cmd = [
                "sftp",
                "-q",
                "-b",
                str(batch),
                "-i",
                str(key_path),
                "-P",
                str(server.port),
                "-o",
                f"UserKnownHostsFile={known_hosts}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                f"{server.login_user}@{server.host}",
            ]
            endpoint = SftpEndpoint(
                host=server.host,
                port=server.port,
                username=server.login_user,
                host_key=server.host_key.public_line,
            )
            pkey = load_private_key(key_path)

            def run_cli() -> None:
                cli_target.unlink(missing_ok=True)
                subprocess.run(cli_cmd, check=True, capture_output=True)

            def run_ours() -> None:
                ours_target.unlink(missing_ok=True)
                with connect(endpoint, pkey) as session:
                    session.download("inbox/big.bin", ours_target, resume=False)

            cli_rates: list[float] = []
            our_rates: list[float] = []
            for round_no in range(1, args.rounds + 1):
                cli_rates.append(size / MiB / _timed(run_cli))
                our_rates.append(size / MiB / _timed(run_ours))
                print(
                    f"round {round_no}: sftp CLI {cli_rates[-1]:7.1f} MiB/s   "
                    f"integrations.sftp {our_rates[-1]:7.1f} MiB/s",
                    flush=True,
                )
            for label, target in (("sftp CLI", cli_target), ("integrations.sftp", ours_target)):
                if _sha256(target) != expected:
                    print(f"{label}: downloaded file differs from the source", file=sys.stderr)
                    return 1

            cli_median = statistics.median(cli_rates)
            our_median = statistics.median(our_rates)
            ratio = our_median / cli_median
            print(f"file: {args.size_mib} MiB, {args.rounds} rounds each, loopback, OpenSSH sshd")
            print(f"sftp CLI           median {cli_median:7.1f} MiB/s  best {max(cli_rates):7.1f}")
            print(f"integrations.sftp  median {our_median:7.1f} MiB/s  best {max(our_rates):7.1f}")
            verdict = "OK" if ratio >= 0.8 else "BELOW TARGET"
            print(f"ratio (median)     {ratio:.0%}  (target >= 80%) -> {verdict}")
            # Each round runs the two back to back, so its own ratio cancels out most of the
            # load that other processes put on a shared machine; shown for the spread.
            paired = sorted(ours / cli for cli, ours in zip(cli_rates, our_rates, strict=True))
            print(
                f"ratio per round    median {statistics.median(paired):.0%}  "
                f"range {paired[0]:.0%}-{paired[-1]:.0%}"
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
