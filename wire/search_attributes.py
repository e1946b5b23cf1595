"""Custom search attributes, so the Web UI's workflow list can be filtered by business keys.

Register them on a cluster with ``temporal operator search-attribute create --name TraceNumber
--type Keyword`` (and so on, with the types below); ``integrations dev up``, the tests and
docker-compose register them.
"""

from __future__ import annotations

from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

from wire.ach import AchReturnStart

TRACE_NUMBER = SearchAttributeKey.for_keyword("TraceNumber")
RETURN_CODE = SearchAttributeKey.for_keyword("ReturnCode")
ACH_STATE = SearchAttributeKey.for_keyword("AchState")
PARTNER = SearchAttributeKey.for_keyword("Partner")
PAYOUT_ID = SearchAttributeKey.for_keyword("PayoutId")
PAYOUT_STATUS = SearchAttributeKey.for_keyword("PayoutStatus")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
PAYROLL_COMPANY = SearchAttributeKey.for_keyword("PayrollCompany")
PAYROLL_STATUS = SearchAttributeKey.for_keyword("PayrollStatus")
ONBOARDING_STAGE = SearchAttributeKey.for_keyword("OnboardingStage")

ALL = (
    TRACE_NUMBER,
    RETURN_CODE,
    ACH_STATE,
    PARTNER,
    PAYOUT_ID,
    PAYOUT_STATUS,
    CURRENCY,
    AMOUNT_MINOR,
    PAYROLL_COMPANY,
    PAYROLL_STATUS,
    ONBOARDING_STAGE,
)

_CLI_TYPE = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
}


def dev_server_flags() -> dict[str, str]:
    """``--search-attribute NAME=TYPE`` pairs for ``temporal server start-dev``."""
    return {key.name: _CLI_TYPE[key.indexed_value_type] for key in ALL}


def ach_return_search_attributes(start: AchReturnStart, code: str | None) -> TypedSearchAttributes:
    """What ``ingest`` sets when it signal-with-starts a case (so the list filters at once)."""
    pairs = [
        SearchAttributePair(TRACE_NUMBER, start.trace_number),
        SearchAttributePair(PARTNER, start.partner_id),
        SearchAttributePair(ACH_STATE, "open"),
    ]
    if code:
        pairs.append(SearchAttributePair(RETURN_CODE, code))
    return TypedSearchAttributes(pairs)
