"""The translator: each accepted transaction set as documented JSON (see docs/edi.md).

834 members become a roster (what payroll's roster import reads), an 820 a remittance (what
reconciliation reads), an 850 or 810 a document with its line items; any other set a generic
list of segments. Amounts are decimal strings, never floats. Member documents hold PII (names,
member ids, birth dates): they live in the landing zone beside the raw file they came from and
never in logs or workflow history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edi.datatypes import as_decimal, is_digits
from edi.reader import Group, Interchange, Segment, TransactionSet

Document = dict[str, Any]
SCHEMA_VERSION = 1


def translate(interchange: Interchange, group: Group, transaction: TransactionSet) -> Document:
    body = [s for s in transaction.segments if s.id not in ("ST", "SE")]
    translator = TRANSLATORS.get(transaction.set_id, _generic)
    document: Document = {
        "schema": f"edi.{transaction.set_id}.v{SCHEMA_VERSION}",
        "interchange": {
            "control_number": interchange.control,
            "sender": interchange.isa[6].strip(),
            "receiver": interchange.isa[8].strip(),
            "usage": interchange.isa[15],
        },
        "group": {
            "functional_id": group.functional_id,
            "control_number": group.control,
            "version": group.version,
        },
        "transaction": {
            "set_id": transaction.set_id,
            "control_number": transaction.control,
            "version": transaction.version or group.version,
        },
    }
    document.update(translator(body))
    return document


def _amount(value: str, implied_decimals: int = 0) -> str | None:
    """A decimal string, or None for an empty or invalid value (which validation reported:
    ``1E+1000002`` is not an X12 number, and Decimal would overflow on it)."""
    number = as_decimal(value, implied_decimals) if value else None
    return None if number is None else str(number)


def _date(value: str) -> str | None:
    """CCYYMMDD → ISO date (D8); anything else is kept as sent."""
    if is_digits(value, 8):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


def _party(seg: Segment) -> Document:
    return {
        "code": seg.get(1),
        "name": seg.get(2),
        "id_qualifier": seg.get(3) or None,
        "id": seg.get(4) or None,
    }


def _address(target: Document, seg: Segment) -> None:
    if seg.id == "N3":
        target["address"] = {"lines": [v for v in (seg.get(1), seg.get(2)) if v]}
    elif seg.id == "N4":
        address = target.setdefault("address", {"lines": []})
        address.update(
            city=seg.get(1), state=seg.get(2), postal_code=seg.get(3), country=seg.get(4) or None
        )


# --- 834 benefit enrollment → roster --------------------------------------------------------


def _834(body: list[Segment]) -> Document:
    header: Document = {"parties": {}, "references": {}}
    members: list[Document] = []
    member: Document | None = None
    coverage: Document | None = None
    for seg in body:
        if seg.id == "INS":
            coverage = None
            member = {
                "subscriber": seg.get(1) == "Y",
                "relationship_code": seg.get(2),
                "maintenance_type": seg.get(3),
                "maintenance_reason": seg.get(4) or None,
                "benefit_status": seg.get(5) or None,
                "employment_status": seg.get(8) or None,
                "member_ids": {},
                "dates": {},
                "coverages": [],
            }
            members.append(member)
        elif member is None:
            if seg.id == "BGN":
                header.update(
                    purpose=seg.get(1),
                    reference=seg.get(2),
                    date=_date(seg.get(3)),
                    action=seg.get(8) or None,
                )
            elif seg.id == "N1":
                header["parties"][seg.get(1)] = _party(seg)
            elif seg.id == "REF":
                header["references"][seg.get(1)] = seg.get(2)
            elif seg.id == "DTP":
                header.setdefault("dates", {})[seg.get(1)] = _date(seg.get(3))
        elif seg.id == "HD":
            coverage = {
                "maintenance_type": seg.get(1),
                "insurance_line": seg.get(3),
                "plan": seg.get(4) or None,
                "coverage_level": seg.get(5) or None,
                "dates": {},
            }
            member["coverages"].append(coverage)
        elif coverage is not None and seg.id == "DTP":
            coverage["dates"][seg.get(1)] = _date(seg.get(3))
        elif coverage is not None and seg.id == "AMT":
            coverage.setdefault("amounts", {})[seg.get(1)] = _amount(seg.get(2))
        elif seg.id == "REF":
            member["member_ids"][seg.get(1)] = seg.get(2)
        elif seg.id == "DTP":
            member["dates"][seg.get(1)] = _date(seg.get(3))
        elif seg.id == "NM1" and seg.get(1) == "IL":
            member.update(
                last_name=seg.get(3),
                first_name=seg.get(4),
                middle_name=seg.get(5) or None,
                id_qualifier=seg.get(8) or None,
                id=seg.get(9) or None,
            )
        elif seg.id in ("N3", "N4") and "last_name" in member:
            _address(member, seg)
        elif seg.id == "DMG":
            member.update(birth_date=_date(seg.get(2)), gender=seg.get(3) or None)
        elif seg.id == "AMT":
            member.setdefault("amounts", {})[seg.get(1)] = _amount(seg.get(2))
        elif seg.id == "LUI":
            member["language"] = seg.get(3) or seg.get(2) or None
    return {"header": header, "member_count": len(members), "members": members}


# --- 820 premium payment → remittance -------------------------------------------------------


def _820(body: list[Segment]) -> Document:
    doc: Document = {"parties": {}, "references": {}, "remittances": []}
    entity: Document | None = None
    for seg in body:
        if seg.id == "BPR":
            doc["payment"] = {
                "handling_code": seg.get(1),
                "amount": _amount(seg.get(2)),
                "credit_debit": seg.get(3),
                "method": seg.get(4),
                "date": _date(seg.get(16)),
            }
        elif seg.id == "TRN":
            doc["trace"] = {"type": seg.get(1), "number": seg.get(2), "originator": seg.get(3)}
        elif seg.id == "ENT":
            entity = {"number": seg.get(1), "entity_id": seg.get(4) or None, "lines": []}
            doc["remittances"].append(entity)
        elif entity is None and seg.id == "N1":
            doc["parties"][seg.get(1)] = _party(seg)
        elif entity is None and seg.id == "REF":
            doc["references"][seg.get(1)] = seg.get(2)
        elif entity is None and seg.id == "DTM":
            doc.setdefault("dates", {})[seg.get(1)] = _date(seg.get(2))
        elif entity is not None and seg.id == "NM1":
            entity["name"] = {
                "last": seg.get(3),
                "first": seg.get(4) or None,
                "id_qualifier": seg.get(8) or None,
                "id": seg.get(9) or None,
            }
        elif seg.id == "RMR":
            line = {
                "qualifier": seg.get(1),
                "reference": seg.get(2),
                "paid": _amount(seg.get(4)),
                "billed": _amount(seg.get(5)),
            }
            if entity is None:
                entity = {"number": None, "entity_id": None, "lines": []}
                doc["remittances"].append(entity)
            entity["lines"].append(line)
        elif entity is not None and seg.id == "DTM" and entity["lines"]:
            entity["lines"][-1].setdefault("dates", {})[seg.get(1)] = _date(seg.get(2))
    return doc


# --- 850 / 810 and anything else: documented generic loops --------------------------------


def _segments(body: list[Segment]) -> list[Document]:
    return [{"id": s.id, "elements": s.elements[1:]} for s in body]


def _loops(body: list[Segment], loop_id: str, ends: tuple[str, ...]) -> Document:
    header: list[Segment] = []
    loops: list[list[Segment]] = []
    summary: list[Segment] = []
    for seg in body:
        if (seg.id in ends and loops) or summary:
            summary.append(seg)
        elif seg.id == loop_id:
            loops.append([seg])
        elif loops:
            loops[-1].append(seg)
        else:
            header.append(seg)
    return {
        "header": _segments(header),
        "loops": [{"id": loop_id, "segments": _segments(loop)} for loop in loops],
        "summary": _segments(summary),
    }


def _line(seg: Segment, quantity: int, unit: int, price: int, ids_from: int) -> Document:
    ids = {}
    for n in range(ids_from, min(len(seg.elements), ids_from + 20), 2):
        if seg.get(n) and seg.get(n + 1):
            ids[seg.get(n)] = seg.get(n + 1)
    return {
        "line_number": seg.get(1) or None,
        "quantity": _amount(seg.get(quantity)),
        "unit": seg.get(unit),
        "unit_price": _amount(seg.get(price)),
        "product_ids": ids,
    }


def _850(body: list[Segment]) -> Document:
    doc = _loops(body, "PO1", ("CTT", "AMT"))
    beg = next((s for s in body if s.id == "BEG"), None)
    doc["purchase_order"] = {
        "purpose": beg.get(1) if beg else None,
        "type": beg.get(2) if beg else None,
        "number": beg.get(3) if beg else None,
        "date": _date(beg.get(5)) if beg else None,
        "lines": [_line(s, 2, 3, 4, 6) for s in body if s.id == "PO1"],
    }
    return doc


def _810(body: list[Segment]) -> Document:
    doc = _loops(body, "IT1", ("TDS", "CTT"))
    big = next((s for s in body if s.id == "BIG"), None)
    tds = next((s for s in body if s.id == "TDS"), None)
    doc["invoice"] = {
        "date": _date(big.get(1)) if big else None,
        "number": big.get(2) if big else None,
        "purchase_order_number": (big.get(4) or None) if big else None,
        # TDS01 is N2: two implied decimal places.
        "total": _amount(tds.get(1), 2) if tds else None,
        "lines": [_line(s, 2, 3, 4, 6) for s in body if s.id == "IT1"],
    }
    return doc


def _generic(body: list[Segment]) -> Document:
    return {"segments": _segments(body)}


TRANSLATORS: dict[str, Callable[[list[Segment]], Document]] = {
    "834": _834,
    "820": _820,
    "850": _850,
    "810": _810,
}
