"""Custom search attributes, so the Web UI's workflow list can be filtered by business keys.

Register them on a cluster with ``temporal operator search-attribute create --name TraceNumber
--type Keyword`` (and so on); ``integrations dev up`` and the tests register them on the dev
server.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TRACE_NUMBER = SearchAttributeKey.for_keyword("TraceNumber")
RETURN_CODE = SearchAttributeKey.for_keyword("ReturnCode")
ACH_STATE = SearchAttributeKey.for_keyword("AchState")
PARTNER = SearchAttributeKey.for_keyword("Partner")

ALL = (TRACE_NUMBER, RETURN_CODE, ACH_STATE, PARTNER)


def dev_server_flags() -> dict[str, str]:
    """``--search-attribute NAME=Keyword`` pairs for ``temporal server start-dev``."""
    return {key.name: "Keyword" for key in ALL}
