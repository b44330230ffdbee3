"""Reports waiting to leave for the district's DHIS2, and the code that sends them.

The report command calls `enqueue_report`; the modem daemon (or `keneya outbox drain`) calls
`sender.drain` whenever the 3G link is up.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.clock import Clock

JSON_TYPE = "application/json"
ADX_TYPE = "application/adx+xml"
CONTENT_TYPES = {"dhis2-datavalueset": JSON_TYPE, "dhis2-adx": ADX_TYPE}
# A revised report lists, beside its values, the cells an earlier version may have left in
# DHIS2 that the revision no longer has. DHIS2 imports upsert and never delete, and DHIS2 before
# 2.36 skips a zero for an element that is not zero-significant (DHIS2-11624), so the sender
# posts these cells in a second request with importStrategy=DELETE, which every version honours.
DELETIONS_KEY = "deletedDataValues"


def enqueue_report(
    store: Any,
    *,
    facility: str,
    dataset: str,
    period: str,
    payload: dict[str, Any] | str | bytes,
    kind: str = "dhis2-datavalueset",
    now: str | None = None,
) -> dict[str, Any]:
    """Queue one report for DHIS2: a dataValueSet dict (kind `dhis2-datavalueset`) or an ADX
    document (kind `dhis2-adx`). Enqueueing the same figures again is a no-op; new figures for
    the same facility, dataSet and period become a new version that replaces an unsent one."""
    if kind not in CONTENT_TYPES:
        raise ValueError(f"unknown report kind {kind!r} (expected one of {tuple(CONTENT_TYPES)})")
    if kind == "dhis2-datavalueset":
        if not isinstance(payload, dict):
            raise ValueError("a dhis2-datavalueset payload is a dataValueSet dict")
        # sorted keys: the same figures always give the same text, so a re-run is recognised
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    else:
        if isinstance(payload, dict):
            raise ValueError("a dhis2-adx payload is an ADX XML document")
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    return store.outbox.enqueue(
        kind=kind,
        facility=facility,
        dataset=dataset,
        period=period,
        payload=text,
        content_type=CONTENT_TYPES[kind],
        now=now or Clock(store).now().iso(),
    )
