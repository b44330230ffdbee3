"""The monthly activity report over the store, for staff allowed to see reports."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from appliance.domain.permissions import VIEW_REPORTS
from appliance.outbox import DELETIONS_KEY, enqueue_report
from appliance.reports import formats
from appliance.reports.monthly import Period, Report, compute
from appliance.services.context import Actor, Context


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return date(day.year - 1, 2, 28)


def monthly(ctx: Context, actor: Actor, period: str) -> Report:
    """The report of one month (YYYY-MM); a month that has not started is refused."""
    ctx.require(actor, VIEW_REPORTS)
    month = Period.parse(period)
    reading = ctx.now()
    if month.start > reading.today:
        raise ValueError(f"period {month} has not started yet (today is {reading.today})")
    repo = ctx.store.reports
    visits = repo.visits(
        start=month.start,
        end=month.end,
        growth_from=month.lookback_start,
        anc_from=month.anc_lookback_start,
    )
    # Children whose first birthday falls in the month (one day wider for 29 February).
    doses = repo.doses_of_children_born(
        born_from=_year_before(month.start) - timedelta(days=1),
        born_to=_year_before(month.end),
    )
    referrals = ctx.store.referrals.counts_by_reason(month.start.isoformat(), month.end.isoformat())
    values = compute(month, visits, doses, referrals=referrals)
    report = Report(
        month,
        values,
        facility_code=ctx.store.get_setting("facility_code") or "",
        facility_name=ctx.store.get_setting("facility_name") or "",
        generated_on=reading.today,
        meta={"complete": month.end < reading.today},
    )
    ctx.audit(
        actor,
        "report.monthly",
        detail={"period": str(month), "values": len(values)},
        reading=reading,
    )
    return report


def queue_for_dhis2(
    ctx: Context, actor: Actor, period: str, mapping: Path
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Put the month's report in the outbox as a DHIS2 dataValueSet. Returns the outbox item,
    the payload and the values the district's mapping does not cover."""
    report = monthly(ctx, actor, period)
    mapping_data = formats.load_mapping(mapping)
    payload, unmapped = formats.to_dhis2(report, mapping_data)
    reading, facility = ctx.now(), ctx.facility_code
    # the outbox item and its audit row commit together
    with ctx.store.transaction():
        earlier = ctx.store.outbox.payloads_that_may_have_arrived(
            facility=facility, dataset=payload["dataSet"], period=payload["period"]
        )
        gone = formats.cells_gone(payload, [json.loads(p) for p in earlier], mapping_data)
        if gone:  # sent after the values, as a DELETE import (appliance.outbox.sender)
            payload[DELETIONS_KEY] = gone
        item = enqueue_report(
            ctx.store,
            facility=facility,
            dataset=payload["dataSet"],
            period=payload["period"],
            payload=payload,
            now=reading.iso(),
        )
        ctx.audit(
            actor,
            "report.send",
            detail={
                "period": period,
                "outbox_item": item["id"],
                "version": item["version"],
                "values": len(payload["dataValues"]),
                "unmapped": len(unmapped),
                "deleted": len(gone),
            },
            reading=reading,
        )
    return item, payload, unmapped
