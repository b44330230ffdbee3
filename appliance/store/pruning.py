"""Making room before the data folder fills: the oldest history that nobody needs for care goes.

What may go, in this order, each oldest first:
1. outbox items that have left for DHIS2 or were replaced (delivered, superseded), with their
   attempts and SMS rows, once they are a month old (a report can be made again from the
   records; items still waiting are never touched);
2. power events older than two days (but not the shutdown the state names, nor the last
   executed shutdown, from which the next start reports the outage);
3. power samples older than two days, the daily and 15-minute rows first (the oldest).
Patient records, encounters, staff, audit and clock events are never pruned.

"Free" counts the pages SQLite has freed inside the file as well as the folder's free space:
deleted rows do not shrink the file, but the next writes reuse their pages, so a second call
does not delete more history for space that is already there.

Each batch is its own short transaction (a few hundred rows: milliseconds; see
benchmarks/prune.py), and batches are `pause_s` apart: a writer of another process polls for
the lock (SQLite's busy handler sleeps up to 100 ms between tries), so back-to-back batches
would keep it out for the whole run although each holds the lock for milliseconds.

keneya-power calls `make_room` from its loop (power.daemon), since it is the one process that
always runs, full disk or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from appliance.clock import to_iso
from appliance.store.diskspace import Space, space
from appliance.store.power import KEEP_MINUTES_S

if TYPE_CHECKING:
    from appliance.store.db import Store

DEFAULT_MIN_FREE_FRACTION = 0.05
OUTBOX_KEEP_S = 31 * 86_400
POWER_KEEP_S = KEEP_MINUTES_S
POWER_BATCH = 500
OUTBOX_BATCH = 50  # items carry their report's payload
PAUSE_S = 0.12  # between batches: longer than the longest sleep of a waiting writer


@dataclass(frozen=True, slots=True)
class Room:
    free_bytes: int  # the folder's, for this user
    reusable_bytes: int  # free pages inside the database file
    total_bytes: int

    @property
    def fraction(self) -> float:
        if not self.total_bytes:
            return 0.0
        return (self.free_bytes + self.reusable_bytes) / self.total_bytes


@dataclass
class Pruned:
    outbox_items: int = 0
    power_events: int = 0
    power_samples: int = 0
    batches: int = 0
    before: Room | None = None
    after: Room | None = None
    more: bool = False  # stopped at max_batches with the folder still under the floor
    steps: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.outbox_items + self.power_events + self.power_samples


def room(store: Store, *, space_of: Callable[[object], Space | None] = space) -> Room:
    s = space_of(store.path.parent)
    pages = store.conn.execute("PRAGMA freelist_count").fetchone()[0]
    page_size = store.conn.execute("PRAGMA page_size").fetchone()[0]
    if s is None:
        return Room(0, pages * page_size, 0)
    return Room(s.free_bytes, pages * page_size, s.total_bytes)


def make_room(
    store: Store,
    *,
    now_s: float,
    min_free_fraction: float = DEFAULT_MIN_FREE_FRACTION,
    max_batches: int = 10,
    pause_s: float = PAUSE_S,
    space_of: Callable[[object], Space | None] = space,
    sleep: Callable[[float], object] = time.sleep,
) -> Pruned:
    """Prune (see the module's docstring) while the folder's free fraction is under
    `min_free_fraction`, at most `max_batches` short transactions per call; `more` says
    whether the caller should call again soon."""
    if not 0 <= min_free_fraction < 1:
        raise ValueError("min_free_fraction must be in [0, 1)")
    out = Pruned(before=room(store, space_of=space_of))
    out.after = out.before
    if out.before.fraction >= min_free_fraction:
        return out
    outbox_before = to_iso(datetime.fromtimestamp(now_s - OUTBOX_KEEP_S, UTC))
    power_before = to_iso(datetime.fromtimestamp(now_s - POWER_KEEP_S, UTC))
    steps: list[tuple[str, Callable[[], int]]] = [
        (
            "outbox_items",
            lambda: store.outbox.prune_oldest_sent(outbox_before, limit=OUTBOX_BATCH),
        ),
        (
            "power_events",
            lambda: store.power.prune_oldest_events(power_before, limit=POWER_BATCH),
        ),
        (
            "power_samples",
            lambda: store.power.prune_oldest(now_s - POWER_KEEP_S, limit=POWER_BATCH),
        ),
    ]
    for name, batch in steps:
        while True:
            if out.after.fraction >= min_free_fraction:
                return out
            if out.batches >= max_batches:
                out.more = True
                return out
            if out.batches:
                sleep(pause_s)  # let the other processes' writers in
            n = batch()
            out.batches += 1
            if n == 0:
                break
            setattr(out, name, getattr(out, name) + n)
            if name not in out.steps:
                out.steps.append(name)
            out.after = room(store, space_of=space_of)
    return out
