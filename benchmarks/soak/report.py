"""The soak's printed report (and the same as JSON for tests/test_soak.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .chaos import Fault
from .load import Ledger
from .verify import Outcome


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def as_json(
    outcome: Outcome, ledger: Ledger, faults: list[Fault], timings: dict[str, float], seed: int
) -> dict[str, Any]:
    return {
        "seed": seed,
        "passed": outcome.passed,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in outcome.checks],
        "figures": outcome.figures,
        "timings": timings,
        "faults": [
            {
                "kind": f.kind,
                "target": f.target,
                "down_seconds": round(f.up_at - f.down_at, 2),
                "recovery_seconds": None
                if f.recovered_at is None
                else round(f.recovered_at - f.up_at, 2),
            }
            for f in faults
        ],
        "sent": {
            "files": len(ledger.files),
            "webhook_events": len(ledger.events),
            "payouts": len(ledger.payouts),
            "returns": len(ledger.returned_traces),
            "payroll_employees": ledger.payroll.employees,
        },
    }


def print_report(
    outcome: Outcome, ledger: Ledger, faults: list[Fault], timings: dict[str, float], seed: int
) -> None:
    f = outcome.figures
    load, drain = timings["load"], timings["drain"]
    settled = sum(1 for x in ledger.files if x.settled_at is not None)
    accepted = sum(1 for e in ledger.events.values() if e.accepted_at is not None)
    run = ledger.payroll
    print()
    print(f"Soak and chaos {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, seed {seed}")
    print(f"  stack up {timings['stack_up']:.1f} s, load {load:.0f} s, drain {drain:.1f} s")
    print("Throughput")
    print(f"  files          {len(ledger.files):5d} dropped {f['files']}, {settled} settled: "
          f"{settled / ((load + drain) / 60):.1f} files/min")  # fmt: skip
    print(f"  webhooks       {len(ledger.events):5d} events ({len(ledger.payouts)} payouts, "
          f"{ledger.redeliveries} redeliveries): {accepted / load:.1f} accepted/s")  # fmt: skip
    print(f"  ACH returns    {len(ledger.returned_traces):5d} returned debits in "
          f"{sum(1 for x in ledger.files if x.kind == 'returns')} files")  # fmt: skip
    payroll_time = (
        f"{run.finished_at - run.started_at:.1f} s start to end"
        if run.finished_at and run.started_at
        else "did not finish"
    )
    print(f"  payroll        {run.employees:5d} employees: {run.status}, {payroll_time}")
    print(f"  intake runs    {ledger.intake_starts} started ({ledger.intake_start_failures} "
          "start attempts failed during faults)")  # fmt: skip
    print("Latency")
    print(f"  file drop -> archived/quarantined  p50 {_s(f['file_settle_p50_s'])}  "
          f"p95 {_s(f['file_settle_p95_s'])}")  # fmt: skip
    print(f"  webhook sent -> forwarded          p50 {_s(f['webhook_forward_p50_s'])}  "
          f"p95 {_s(f['webhook_forward_p95_s'])}")  # fmt: skip
    print("Faults (recovery = restart -> first successful operation it serves)")
    for fault in faults:
        rec = None if fault.recovered_at is None else fault.recovered_at - fault.up_at
        print(f"  {fault.kind:9s} {fault.target:28s} down {fault.up_at - fault.down_at:4.1f} s  "
              f"recovery {_s(rec)}")  # fmt: skip
    print(f"  workers that exited on their own (replaced): {f['unplanned_worker_exits']}")
    print("Workflows")
    for key, n in f["workflows"].items():
        print(f"  {key:40s} {n}")
    print(f"  workflow tasks failed (bugs, not faults)   {f['workflow_task_failures']}")
    print("Invariants")
    for check in outcome.checks:
        print(f"  [{'PASS' if check.ok else 'FAIL'}] {check.name}")
        print(f"         {check.detail}")
    print(f"RESULT: {'PASS' if outcome.passed else 'FAIL'}")
