"""834 benefit enrolment → payroll benefit deductions (pure): real 834 files validated with
pyx12 and translated by ``edi``, and properties over any enrolment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import edi
from payroll.amounts import expected_pay
from payroll.enrolment import (
    deductions_by_employee,
    elections,
    in_force,
    rate_key,
    with_benefits,
)
from payroll.roster import Employee, PeriodInput

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "x12"
PERIOD = (date(2026, 11, 1), date(2026, 11, 14))
RATES = {"HMO/EMP": 4500, "PPO/FAM": 18000, "DEN": 1200}


def employee(employee_id: str, ssn: str = "123-45-6789") -> Employee:
    return Employee(
        employee_id=employee_id,
        name="X",
        ssn=ssn,
        routing_number="091000019",
        account_number="12345678",
        pay_type="salary",
        rate_cents=250_000,
        state="TX",
    )


def translated(*names: str) -> list[dict[str, Any]]:
    """What ``edi.accept`` writes to ``<sha>.translated.json``: accepted sets only."""
    documents: list[dict[str, Any]] = []
    for name in names:
        validation = edi.validate((CORPUS / name).read_bytes())
        assert validation.result.accepted, name
        documents += validation.translations()
    return documents


def test_real_834s_become_the_subscribers_benefit_deductions() -> None:
    docs = translated("pyx12_834_deident_new_enroll.txt", "pyx12_834_deident_family.txt")
    roster = [employee("M000001"), employee("M000002", "234-56-7890"), employee("E9")]
    chosen, errors = elections(docs, roster, RATES, *PERIOD)
    assert not errors
    # Jane Doe: HMO for herself; Robert Smith: PPO for the family (his wife and son are his
    # dependents, priced through his coverage level and never deducted on their own).
    assert [(e.employee_id, e.insurance_line, e.coverage_level, e.cents) for e in chosen] == [
        ("M000001", "HMO", "EMP", 4500),
        ("M000002", "PPO", "FAM", 18000),
    ]
    assert deductions_by_employee(chosen) == {"M000001": 4500, "M000002": 18000}


def test_a_subscriber_on_no_roster_is_an_error_with_the_id_masked() -> None:
    docs = translated("pyx12_834_deident_family.txt")
    chosen, errors = elections(docs, [employee("M000001")], RATES, *PERIOD)
    assert chosen == []
    assert [(e.file, e.row, e.rule, e.value) for e in errors] == [
        ("enrolment", 1, "unknown_member", "***")  # 7 characters: all hidden
    ]
    assert "M000002" not in errors[0].model_dump_json()


def test_a_coverage_without_a_rate_is_an_error_and_the_834_premium_needs_none() -> None:
    docs = translated("pyx12_834_deident_new_enroll.txt")
    _, errors = elections(docs, [employee("M000001")], {}, *PERIOD)
    assert [(e.rule, e.column) for e in errors] == [("no_rate", "HD")]
    docs[0]["members"][0]["coverages"][0]["amounts"] = {"P3": "61.25"}
    chosen, errors = elections(docs, [employee("M000001")], {}, *PERIOD)
    assert not errors and [(e.cents, e.priced_by) for e in chosen] == [(6125, "premium")]


def test_coverage_before_its_begin_date_is_not_deducted() -> None:
    docs = translated("pyx12_834_deident_new_enroll.txt")  # benefit begins 2026-04-01
    march = (date(2026, 3, 1), date(2026, 3, 14))
    assert elections(docs, [employee("M000001")], RATES, *march) == ([], [])


# --- properties -------------------------------------------------------------------------------

LINES = ["HLT", "DEN", "VIS"]
LEVELS = ["EMP", "ESP", "FAM"]
days = st.integers(-60, 60).map(lambda n: PERIOD[0] + timedelta(days=n))


@st.composite
def coverage(draw: st.DrawFn) -> dict[str, Any]:
    dates = {"348": draw(days).isoformat()}
    if draw(st.booleans()):
        dates["349"] = draw(days).isoformat()
    out: dict[str, Any] = {
        "maintenance_type": draw(st.sampled_from(["021", "030", "001", "024"])),
        "insurance_line": draw(st.sampled_from(LINES)),
        "plan": None,
        "coverage_level": draw(st.sampled_from(LEVELS)),
        "dates": dates,
    }
    if draw(st.booleans()):
        out["amounts"] = {"P3": str(draw(st.decimals(0, 500, places=2)))}
    return out


@st.composite
def enrolment(draw: st.DrawFn) -> tuple[list[Employee], list[dict[str, Any]]]:
    """A roster of 1-6 employees and an 834 whose subscribers are some of them (or strangers),
    each followed by a few dependents."""
    count = draw(st.integers(1, 6))
    roster = [employee(f"E{i}", f"{100 + i:03d}-45-{6789 + i:04d}") for i in range(count)]
    members: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 8))):
        who = draw(st.integers(0, count + 1))  # count and count + 1: not on the roster
        ssn = f"{100 + who:03d}45{6789 + who:04d}"
        members.append(
            {
                "subscriber": True,
                "relationship_code": "18",
                "maintenance_type": draw(st.sampled_from(["021", "030", "024"])),
                "benefit_status": draw(st.sampled_from(["A", "A", "C"])),
                "employment_status": draw(st.sampled_from(["FT", "PT", "RT"])),
                "member_ids": {"0F": f"E{who}"} if draw(st.booleans()) else {},
                "id_qualifier": "34",
                "id": ssn,
                "coverages": draw(
                    st.lists(coverage(), max_size=3, unique_by=lambda c: c["insurance_line"])
                ),
            }
        )
        for _ in range(draw(st.integers(0, 2))):
            members.append(
                {
                    "subscriber": False,
                    "relationship_code": "19",
                    "maintenance_type": "021",
                    "member_ids": {"0F": f"D{who}"},
                    "id_qualifier": "34",
                    "id": "987654321",
                    "coverages": draw(st.lists(coverage(), max_size=1)),
                }
            )
    return roster, [{"schema": "edi.834.v1", "members": members}]


def _paid_through_payroll(member: Mapping[str, Any]) -> bool:
    return bool(
        member["subscriber"]
        and member["maintenance_type"] != "024"
        and member["benefit_status"] != "C"
        and member["employment_status"] != "RT"
    )


def _cost(coverage: Mapping[str, Any]) -> int:
    premium = (coverage.get("amounts") or {}).get("P3")
    if premium is not None:
        return int(Decimal(premium) * 100)
    key = rate_key(coverage["insurance_line"], coverage["coverage_level"])
    return ALL_RATES[key]


ALL_RATES = {
    rate_key(line, level): 1000 + 100 * i
    for i, (line, level) in enumerate((line, level) for line in LINES for level in LEVELS)
}


@settings(max_examples=200)
@given(enrolment())
def test_each_in_force_coverage_of_a_paid_subscriber_is_deducted_once(
    case: tuple[list[Employee], list[dict[str, Any]]],
) -> None:
    roster, docs = case
    chosen, errors = elections(docs, roster, ALL_RATES, *PERIOD)
    ids = {e.employee_id for e in roster}
    expected: dict[str, int] = {}
    unknown = 0
    taken: set[tuple[str, str]] = set()
    duplicates = 0
    for member in docs[0]["members"]:
        covered = [c for c in member["coverages"] if in_force(c, *PERIOD)]
        if not _paid_through_payroll(member) or not covered:
            continue
        who = member["member_ids"].get("0F") or f"E{int(member['id'][:3]) - 100}"
        if who not in ids:
            unknown += 1
            continue
        for c in covered:
            if (who, c["insurance_line"]) in taken:
                duplicates += 1
                continue
            taken.add((who, c["insurance_line"]))
            expected[who] = expected.get(who, 0) + _cost(c)
    assert deductions_by_employee(chosen) == expected
    assert sum(e.rule == "unknown_member" for e in errors) == unknown
    assert sum(e.rule == "duplicate" for e in errors) == duplicates
    assert len(errors) == unknown + duplicates
    dumped = " ".join(e.model_dump_json() for e in errors)
    for number in range(len(roster) + 2):
        assert f"{100 + number:03d}45{6789 + number:04d}" not in dumped  # SSNs never shown


@given(enrolment())
def test_matching_by_ssn_equals_matching_by_subscriber_id(
    case: tuple[list[Employee], list[dict[str, Any]]],
) -> None:
    roster, docs = case
    by_ref, _ = elections(docs, roster, ALL_RATES, *PERIOD)
    for member in docs[0]["members"]:
        if member["subscriber"]:
            member["member_ids"] = {}
    by_ssn, _ = elections(docs, roster, ALL_RATES, *PERIOD)
    assert by_ssn == by_ref


@given(enrolment(), st.sampled_from([-1, 1]))
def test_nothing_is_deducted_outside_the_cover_dates(
    case: tuple[list[Employee], list[dict[str, Any]]], side: int
) -> None:
    roster, docs = case
    for member in docs[0]["members"]:
        for c in member["coverages"]:
            # All cover ends the day before the period, or starts the day after it.
            if side < 0:
                c["dates"]["349"] = (PERIOD[0] - timedelta(days=1)).isoformat()
            else:
                c["dates"] = {"348": (PERIOD[1] + timedelta(days=1)).isoformat()}
    assert elections(docs, roster, ALL_RATES, *PERIOD) == ([], [])


@given(
    st.lists(st.sampled_from(["E1", "E2", "E3", "E4"]), unique=True),
    st.dictionaries(st.sampled_from(["E1", "E2", "E3", "E5"]), st.integers(0, 10**6)),
)
def test_benefits_add_to_deductions_and_leave_pay_otherwise_unchanged(
    given_ids: list[str], benefits: dict[str, int]
) -> None:
    inputs = [
        PeriodInput(employee_id=i, hours=40, bonus_cents=100, deductions_cents=500)
        for i in given_ids
    ]
    combined = with_benefits(inputs, benefits)
    by_id = {i.employee_id: i for i in combined}
    assert len(by_id) == len(combined)  # one row per employee
    assert set(by_id) == set(given_ids) | set(benefits)
    for employee_id, item in by_id.items():
        before = next((i for i in inputs if i.employee_id == employee_id), None)
        base = before.deductions_cents if before else 0
        assert item.deductions_cents == base + benefits.get(employee_id, 0)
        assert item.hours == (before.hours if before else 0)
        # A salaried employee's gross is the same with or without the benefit row.
        e = employee(employee_id)
        assert expected_pay(e, item).gross_cents == expected_pay(e, before).gross_cents
