"""Follow-up lists staff act on: today's work, what is coming, defaulters, outreach rounds.

Every list reads the stored items (store.due_items): `refresh` recomputes a patient's items
in the transaction of each write that can change them (encounter, correction, void,
registration, demographics, merge), and `rebuild` recomputes every patient when the day or
the rules have moved on (the nightly timer; resumable after a power cut). A list served
before the day's rebuild is still right about states, which follow from the stored dates;
it may miss items that the new day brings into the look-ahead, which the rebuild adds.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any

from appliance.clinical.due import (
    MAX_LOOKAHEAD_DAYS,
    STATES,
    STORED_HORIZON_DAYS,
    due_for_patient,
    load_rules,
    rules_fingerprint,
)
from appliance.clinical.immunization import load_schedule
from appliance.clinical.pregnancy import MAX_PREGNANCY_DAYS, PNC_LAST_DAY
from appliance.domain.permissions import READ_PATIENT
from appliance.services.context import Actor, Context
from appliance.store.due_items import SORTS, row_of

log = logging.getLogger("keneya.follow_up")

BATCH = 500
BUILT_ON = "due.built_on"  # the day of the last complete rebuild
BUILT_WITH = "due.built_with"  # rules_fingerprint of that rebuild
CURSOR = "due.rebuild"  # {"on", "with", "after"} of a rebuild under way
# Pregnancies and births older than this cannot make anyone due any more.
RECENT_DAYS = MAX_PREGNANCY_DAYS + PNC_LAST_DAY
TODAY_STATES = ("due", "overdue")
_STATE_WHERE = {
    "upcoming": "(due_date > :on AND due_date <= :end AND due_date >= :start)",
    "due": "(due_date <= :on AND overdue_from > :on)",
    "overdue": "(overdue_from <= :on AND defaulter_from > :on)",
    "defaulter": "(defaulter_from <= :on)",
}
_LIVE = "ends_on >= :on"


# -- keeping the items current -------------------------------------------------------------


def _fingerprint(ctx: Context) -> str:
    return rules_fingerprint(ctx.malaria_vaccine)


def refresh(ctx: Context, patient_ids: Iterable[str], *, on: date | None = None) -> None:
    """Recompute the items of these patients; call it inside the write's transaction so the
    record and its items commit together. Merged or unknown ids lose their items."""
    ids = list(dict.fromkeys(patient_ids))
    on = on or ctx.now().today
    schedule = load_schedule()
    vaccine = ctx.malaria_vaccine
    rows = []
    for patient in ctx.store.patients.get_many(ids).values():
        if patient["merged_into"]:
            continue
        mother = ctx.store.patients.get(patient["mother_id"]) if patient["mother_id"] else None
        for item in due_for_patient(
            patient,
            ctx.store.encounters.for_patient(patient["id"]),
            on,
            mother=mother,
            horizon_days=STORED_HORIZON_DAYS,
            malaria_vaccine=vaccine,
            schedule=schedule,
        ):
            rows.append(row_of(item, on.isoformat()))
    ctx.store.due_items.replace(ids, rows)


def needs_rebuild(ctx: Context, on: date | None = None) -> bool:
    """Whether the stored items are from another day or other rules."""
    on = on or ctx.now().today
    store = ctx.store
    return store.get_setting(BUILT_ON) != on.isoformat() or store.get_setting(
        BUILT_WITH
    ) != _fingerprint(ctx)


def rebuild(
    ctx: Context,
    *,
    on: date | None = None,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Recompute every patient's items for `on` (today), `batch` patients per transaction.
    The cursor commits with each batch: killed half-way, the next run goes on from there
    (for the same day and rules) instead of starting again."""
    store = ctx.store
    on = on or ctx.now().today
    fingerprint = _fingerprint(ctx)
    target = {"on": on.isoformat(), "with": fingerprint}
    raw = store.get_setting(CURSOR)
    cursor = json.loads(raw) if raw else {}
    resumed = bool(cursor) and {k: cursor.get(k) for k in target} == target
    after = cursor.get("after", "") if resumed else ""
    schedule = load_schedule()
    vaccine = ctx.malaria_vaccine
    recent = (on - timedelta(days=RECENT_DAYS)).isoformat()
    patients = items = 0
    while True:
        # read, compute and write under one write lock: an encounter saved meanwhile waits
        # for this batch instead of being overwritten by what was read before it
        with store.transaction():
            chunk = store.patients.active_after(after, batch)
            last = chunk[-1]["id"] if len(chunk) == batch else None
            rows = _batch_rows(store, chunk, after, on, recent, vaccine, schedule)
            store.due_items.replace_range(after, last, rows)
            if last is None:
                store.set_settings(
                    {BUILT_ON: on.isoformat(), BUILT_WITH: fingerprint, CURSOR: None}
                )
            else:
                store.set_settings({CURSOR: json.dumps({**target, "after": last})})
        patients += len(chunk)
        items += len(rows)
        if progress is not None:
            progress(patients)
        if last is None:
            break
        after = last
    return {"on": on.isoformat(), "patients": patients, "items": items, "resumed": resumed}


def _batch_rows(
    store: Any,
    chunk: list[dict[str, Any]],
    after: str,
    on: date,
    recent: str,
    vaccine: bool,
    schedule: Any,
) -> list[tuple[Any, ...]]:
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if chunk:
        for pid, eid, kind, care_date, data in store.encounters.for_due_list(
            recent_from=recent, after=after, last=chunk[-1]["id"]
        ):
            history[pid].append({"id": eid, "type": kind, "care_date": care_date, "data": data})
    mothers = store.patients.get_many(sorted({p["mother_id"] for p in chunk if p["mother_id"]}))
    rows = []
    for patient in chunk:
        encounters = history.get(patient["id"], [])
        encounters.sort(key=lambda e: e["care_date"])
        for item in due_for_patient(
            patient,
            encounters,
            on,
            mother=mothers.get(patient["mother_id"] or ""),
            horizon_days=STORED_HORIZON_DAYS,
            malaria_vaccine=vaccine,
            schedule=schedule,
        ):
            rows.append(row_of(item, on.isoformat()))
    return rows


_background = threading.Lock()


def rebuild_in_background(open_context: Callable[[], AbstractContextManager[Context]]) -> bool:
    """Start a rebuild on a thread of its own (with its own connection) unless one is
    running in this process; True when one was started. The lists go on reading the stored
    items meanwhile."""
    if not _background.acquire(blocking=False):
        return False

    def run() -> None:
        try:
            with open_context() as ctx:
                if needs_rebuild(ctx):
                    done = rebuild(ctx)
                    log.info("due items rebuilt: %s", done)
        except Exception as e:  # a full or read-only disk: said in one line, tried again later
            log.warning("the due items could not be rebuilt: %s", e)
        finally:
            _background.release()

    threading.Thread(target=run, name="due-rebuild", daemon=True).start()
    return True


# -- the lists -----------------------------------------------------------------------------


def _params(on: date, start: date | None = None, end: date | None = None) -> dict[str, Any]:
    return {
        "on": on.isoformat(),
        "start": (start or on).isoformat(),
        "end": (end or on).isoformat(),
    }


def _where(states: Iterable[str], village: str | None) -> str:
    unknown = set(states) - set(STATES)
    if unknown:
        raise ValueError(
            f"unknown state {sorted(unknown)[0]!r}; expected one of {', '.join(STATES)}"
        )
    chosen = " OR ".join(_STATE_WHERE[s] for s in STATES if s in states) or "0"
    where = f"{_LIVE} AND ({chosen})"
    if village is not None:
        where += " AND village = :village"
    return where


def _page(limit: int | None, offset: int) -> tuple[int | None, int]:
    if limit is not None and not 1 <= limit <= 10_000:
        raise ValueError("limit must be between 1 and 10000")
    if offset < 0:
        raise ValueError("offset must be 0 or more")
    return limit, offset


def today(ctx: Context, actor: Actor, *, limit: int | None = 50, offset: int = 0) -> dict[str, Any]:
    """Today's work: the items due and overdue (priority, then date), with the day's
    defaulter and upcoming counts (each kind's look-ahead) beside it."""
    ctx.require(actor, READ_PATIENT)
    limit, offset = _page(limit, offset)
    reading = ctx.now()
    on = reading.today
    params = _params(on)
    # one index range: due and overdue items are due at most the longest tracing delay ago
    # (an OR of the two states made SQLite read the table twice: 94 ms at 100,000 patients)
    longest = max(w.tracing_days for w in load_rules().kinds.values()) + 1
    longest = max([longest, *(w.tracing_days + 1 for w in load_rules().by_code.values())])
    params["oldest"] = (on - timedelta(days=longest)).isoformat()
    count, items = ctx.store.due_items.select(
        f"{_LIVE} AND due_date <= :on AND due_date >= :oldest AND defaulter_from > :on",
        params,
        limit=limit,
        offset=offset,
    )
    defaulters = ctx.store.due_items.count(_where(("defaulter",), None), params)
    upcoming = ctx.store.due_items.count(
        f"{_LIVE} AND due_date > :on AND upcoming_from <= :on", params
    )
    ctx.audit(actor, "due.today", detail={"count": count, "shown": len(items)}, reading=reading)
    return {
        "on": on.isoformat(),
        "count": count,
        "defaulters": defaulters,
        "upcoming": upcoming,
        "items": items,
        "built_on": ctx.store.get_setting(BUILT_ON),
    }


def listing(
    ctx: Context,
    actor: Actor,
    *,
    start: date,
    end: date,
    village: str | None = None,
    states: Iterable[str] = ("upcoming", "due", "overdue"),
    sort: str = "priority",
    limit: int | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """Items of `states` on `start`: late ones whatever their date, upcoming ones due from
    `start` to `end`; optionally one village; a page of them."""
    ctx.require(actor, READ_PATIENT)
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    reading = ctx.now()
    if start < reading.today:
        raise ValueError(f"the lists start today ({reading.today}) or later, not {start}")
    if (end - reading.today).days > MAX_LOOKAHEAD_DAYS:
        raise ValueError(f"the lists look at most {MAX_LOOKAHEAD_DAYS} days ahead")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of priority, date, village, name")
    limit, offset = _page(limit, offset)
    states = tuple(states)
    total, items = ctx.store.due_items.select(
        _where(states, village),
        {**_params(start, start, end), "village": village},
        sort=sort,
        limit=limit,
        offset=offset,
    )
    ctx.audit(
        actor,
        "due.list",
        detail={
            "from": start.isoformat(),
            "to": end.isoformat(),
            "village": village,
            "states": list(states),
            "items": total,
        },
        reading=reading,
    )
    return {"total": total, "items": items}


def defaulters(
    ctx: Context,
    actor: Actor,
    *,
    village: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """Lost to follow-up, to trace in the community: oldest due date first."""
    ctx.require(actor, READ_PATIENT)
    limit, offset = _page(limit, offset)
    reading = ctx.now()
    total, items = ctx.store.due_items.select(
        _where(("defaulter",), village),
        {**_params(reading.today), "village": village},
        sort="oldest",
        limit=limit,
        offset=offset,
    )
    ctx.audit(actor, "due.defaulters", detail={"village": village, "items": total}, reading=reading)
    return {"total": total, "items": items}


def outreach(ctx: Context, actor: Actor, *, village: str, on: date) -> dict[str, Any]:
    """A village's round on `on`: everything due by then (upcoming included) and its
    defaulters, one household's items together (by name, then due date)."""
    ctx.require(actor, READ_PATIENT)
    village = (village or "").strip()
    if not village:
        raise ValueError("choose the village of the round")
    reading = ctx.now()
    if on < reading.today or (on - reading.today).days > MAX_LOOKAHEAD_DAYS:
        raise ValueError(
            f"the round's date must be from today to {MAX_LOOKAHEAD_DAYS} days ahead, not {on}"
        )
    _, items = ctx.store.due_items.select(
        _where(STATES, village),
        {**_params(reading.today, reading.today, on), "village": village},
        sort="name",
    )
    ctx.audit(
        actor,
        "due.outreach",
        detail={"village": village, "date": on.isoformat(), "items": len(items)},
        reading=reading,
    )
    return {"village": village, "date": on.isoformat(), "items": items}


def villages(ctx: Context, actor: Actor) -> list[str]:
    """The villages that have items listed today."""
    ctx.require(actor, READ_PATIENT)
    return ctx.store.due_items.villages(ctx.now().today.isoformat())
