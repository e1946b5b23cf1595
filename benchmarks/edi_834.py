"""Validate and acknowledge an 834 with N members (default 10,000): members per second for
``edi.validate`` + 999 + translation, against bare pyx12 (its ``x12n_document`` writing the
999) measured in the same run, then a cProfile of ours.

    python benchmarks/edi_834.py [--members 10000] [--profile-top 15]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from datetime import UTC, datetime

import pyx12.params
import pyx12.x12n_document

import edi


def generate(members: int) -> bytes:
    head = [
        "ISA*00*          *00*          *ZZ*ACMECORP       *ZZ*HEALTHPLAN     *260401*1200*^*"
        "00501*000000001*0*T*:",
        "GS*BE*ACMECORP*HEALTHPLAN*20260401*1200*100001*X*005010X220A1",
        "ST*834*0001*005010X220A1",
        "BGN*00*20260401-001*20260401*1200****2",
        "N1*P5*ACME CORPORATION*FI*123456780",
        "N1*IN*BEST HEALTH PLAN*FI*987654320",
    ]
    body = []
    for n in range(1, members + 1):
        body += [
            "INS*Y*18*021*XN*A*C**FT",
            f"REF*0F*M{n:08d}",
            "DTP*356*D8*20260401",
            f"NM1*IL*1*DOE{n}*JANE*M***34*{n:09d}",
            "N3*100 MAIN ST",
            "N4*SPRINGFIELD*IL*62701",
            "DMG*D8*19800515*F",
            "HD*021**HMO**EMP",
            "DTP*348*D8*20260401",
        ]
    tail = [f"SE*{len(body) + 5}*0001", "GE*1*100001", "IEA*1*000000001"]
    return ("~\n".join(head + body + tail) + "~\n").encode()


def bare_pyx12(data: bytes) -> bool:
    ack = io.StringIO()
    return bool(
        pyx12.x12n_document.x12n_document(
            pyx12.params.ParamsBase(), io.StringIO(data.decode()), ack, None, None, None
        )
    )


def ours(data: bytes) -> tuple[edi.Validation, str, int]:
    validation = edi.validate(data)
    ack = validation.acknowledgement([edi.AckControl(1, datetime.now(UTC))])
    documents = validation.translations()
    return validation, ack, documents[0]["member_count"] if documents else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--profile-top", type=int, default=15)
    args = parser.parse_args()
    data = generate(args.members)
    print(
        f"834 with {args.members:,} members: {len(data) / 1e6:.1f} MB, "
        f"{data.count(b'~'):,} segments"
    )

    start = time.perf_counter()
    valid = bare_pyx12(data)
    baseline = time.perf_counter() - start
    print(
        f"bare pyx12 x12n_document + 999: {baseline:.2f} s, "
        f"{args.members / baseline:,.0f} members/s (valid={valid})"
    )

    start = time.perf_counter()
    validation, _ack, members = ours(data)
    elapsed = time.perf_counter() - start
    assert validation.result.accepted and members == args.members
    print(
        f"edi.validate + 999 + translation: {elapsed:.2f} s, "
        f"{args.members / elapsed:,.0f} members/s ({elapsed / baseline:.2f}x pyx12's time)"
    )

    profiler = cProfile.Profile()
    profiler.enable()
    ours(data)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(args.profile_top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
