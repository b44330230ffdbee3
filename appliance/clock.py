"""The one place every process asks for "now", and whether to believe it.

The Pi has no battery-backed clock: after a power cut it boots with the time fake-hwclock
saved, which can be days behind. The machine time is trusted only once, since this boot, NTP
synchronised it, the modem read the network's time, or a staff member confirmed the date.
Each such moment is stored with the offset measured then (true − machine), so times recorded
while the clock was doubted can be read correctly later; the stored times are never rewritten.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store import Store

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
TRUST_SOURCES = ("ntp", "modem", "staff")
# A time before this cannot be right: Keneya did not exist yet.
EARLIEST_PLAUSIBLE = datetime(2026, 1, 1, tzinfo=UTC)
# Nor can a time far in the future (a modem reporting 2080 after a network glitch).
LATEST_PLAUSIBLE = datetime(2100, 1, 1, tzinfo=UTC)


class ClockError(ValueError):
    """A time that cannot be accepted as the true time."""


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def corrected(machine_time: datetime, offset_s: float) -> datetime:
    """The true time for a machine time recorded in a boot whose offset was later measured."""
    return machine_time + timedelta(seconds=offset_s)


def plausible(moment: datetime) -> bool:
    return EARLIEST_PLAUSIBLE <= moment < LATEST_PLAUSIBLE


@dataclass(frozen=True)
class ClockReading:
    now: datetime  # best estimate: machine time plus the offset measured in this boot
    machine: datetime  # what the machine clock said
    trusted: bool
    source: str | None  # what made it trusted (ntp, modem, staff), None when untrusted
    boot_id: str

    @property
    def today(self) -> date:
        # Mali keeps UTC all year (Africa/Bamako, no daylight saving), so the UTC date is
        # the local date.
        return self.now.date()

    def iso(self) -> str:
        return to_iso(self.now)

    def machine_iso(self) -> str:
        return to_iso(self.machine)


def read_boot_id(path: Path = BOOT_ID_PATH) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        # No /proc (a laptop that is not Linux): this process counts as its own boot.
        return _PROCESS_BOOT_ID


_PROCESS_BOOT_ID = str(uuid.uuid4())


class Clock:
    """`now()` with its trust flag, backed by the store's clock events."""

    def __init__(
        self,
        store: Store,
        *,
        machine_time: Callable[[], float] = time.time,
        boot_id: str | None = None,
        boot_id_path: Path = BOOT_ID_PATH,
    ):
        self.store = store
        self.machine_time = machine_time
        self.boot_id = boot_id or read_boot_id(boot_id_path)

    def _machine(self) -> datetime:
        return datetime.fromtimestamp(self.machine_time(), UTC)

    def now(self) -> ClockReading:
        machine = self._machine()
        events = self.store.clock.for_boot(self.boot_id)
        if not events:
            return ClockReading(machine, machine, False, None, self.boot_id)
        last = events[-1]
        return ClockReading(
            corrected(machine, last["offset_s"]), machine, True, last["source"], self.boot_id
        )

    def mark_trusted(
        self, source: str, true_time: datetime, *, staff_id: str | None = None
    ) -> ClockReading:
        """Record that, right now, the true time is `true_time` (from `source`)."""
        if source not in TRUST_SOURCES:
            raise ClockError(f"unknown time source {source!r} (expected one of {TRUST_SOURCES})")
        if true_time.tzinfo is None:
            raise ClockError("the true time must carry its time zone")
        if not plausible(true_time):
            raise ClockError(f"{to_iso(true_time)} is not a plausible date")
        machine = self._machine()
        offset = (true_time - machine).total_seconds()
        self.store.clock.add(
            boot_id=self.boot_id,
            source=source,
            machine_time=to_iso(machine),
            true_time=to_iso(true_time),
            offset_s=offset,
            staff_id=staff_id,
        )
        return self.now()

    def status(self) -> dict[str, Any]:
        reading = self.now()
        events = self.store.clock.for_boot(self.boot_id)
        return {
            "now": reading.iso(),
            "machine_time": reading.machine_iso(),
            "trusted": reading.trusted,
            "source": reading.source,
            "offset_s": events[-1]["offset_s"] if events else None,
            "boot_id": self.boot_id,
            "events_this_boot": len(events),
            "plausible": plausible(reading.machine),
        }


def offsets_by_boot(events: list[dict[str, Any]]) -> dict[str, float]:
    """The first offset measured in each boot: what corrects times recorded before it."""
    first: dict[str, float] = {}
    for e in events:
        first.setdefault(e["boot_id"], e["offset_s"])
    return first
